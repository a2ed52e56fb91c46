"""CSV export of filtered lists through the API, the web app and the command line, within what the user may see."""

import csv
import io
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from leadflow.pipeline.services import convert_lead

from ..factories import AccountFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def leads(rep, other_rep):
    return LeadFactory(owner=rep, source="referral_partner"), LeadFactory(owner=other_rep, team=other_rep.team)


def test_the_api_exports_only_visible_filtered_leads(api_as, rep, leads):
    response = api_as(rep).get("/leads/export.csv?source=referral_partner")
    assert response["Content-Type"].startswith("text/csv")
    rows = parse(b"".join(response.streaming_content).decode())
    assert [int(row["id"]) for row in rows] == [leads[0].pk]


def test_marketing_exports_deals_without_amounts(api_as, rep, marketer):
    convert_lead(LeadFactory(owner=rep, company_name="Contoso"), by=rep, amount=5000)
    text = b"".join(api_as(marketer).get("/opportunities/export.csv").streaming_content).decode()
    assert "amount" not in text.splitlines()[0] and len(parse(text)) == 1


def test_the_leads_page_exports_its_current_filter(rep, leads):
    client = Client()
    client.force_login(rep)
    response = client.get("/leads/export.csv?source=referral_partner")
    assert [int(row["id"]) for row in parse(b"".join(response.streaming_content).decode())] == [leads[0].pk]


def test_the_command_exports_as_a_user(tmp_path, rep, leads):
    call_command("export", "leads", "--as", rep.username, "-o", str(tmp_path / "leads.csv"), stderr=StringIO())
    rows = parse((tmp_path / "leads.csv").read_text())
    assert [int(row["id"]) for row in rows] == [leads[0].pk]


def test_the_api_exports_only_visible_opportunities_with_their_filters(api_as, rep, other_rep):
    mine, _ = convert_lead(LeadFactory(owner=rep, company_name="Contoso"), by=rep, amount=5000)
    convert_lead(LeadFactory(owner=other_rep, team=other_rep.team, company_name="Fabrikam"), by=other_rep)
    text = b"".join(
        api_as(rep).get(f"/opportunities/export.csv?is_open=true&stage_id={mine.stage_id}").streaming_content
    )
    rows = parse(text.decode())
    assert [(int(row["id"]), row["stage"], row["amount"]) for row in rows] == [(mine.pk, "Prospecting", "5000.00")]


def test_contacts_and_accounts_export_their_search(api_as, rep):
    LeadFactory(contact=ContactFactory(email="ada@lovelace.example", account=AccountFactory(name="Analytical")))
    LeadFactory(contact=ContactFactory(email="bob@builder.example"))
    contacts = parse(b"".join(api_as(rep).get("/contacts/export.csv?search=ada").streaming_content).decode())
    accounts = parse(b"".join(api_as(rep).get("/accounts/export.csv?search=Analytical").streaming_content).decode())
    assert [(row["email"], row["account"]) for row in contacts] == [("ada@lovelace.example", "Analytical")]
    assert [row["name"] for row in accounts] == ["Analytical"]


def test_the_command_exports_opportunities_by_stage_name(tmp_path, rep, admin):
    deal, _ = convert_lead(LeadFactory(owner=rep, company_name="Contoso"), by=rep)
    call_command("export", "opportunities", "--stage", "prospecting", "--open", "-o", str(tmp_path / "o.csv"),
                 stderr=StringIO())  # fmt: skip
    assert [int(row["id"]) for row in parse((tmp_path / "o.csv").read_text())] == [deal.pk]
    call_command("export", "opportunities", "--closed", "-o", str(tmp_path / "closed.csv"), stderr=StringIO())
    assert parse((tmp_path / "closed.csv").read_text()) == []


def test_the_command_refuses_an_unknown_stage(rep):
    with pytest.raises(CommandError, match="--stage for leads is one of"):
        call_command("export", "leads", "--as", rep.username, "--stage", "won")


def test_the_command_writes_to_standard_output(rep, leads):
    out = StringIO()
    call_command("export", "leads", "--as", rep.username, "--owner", rep.username, stdout=out)
    assert [int(row["id"]) for row in parse(out.getvalue())] == [leads[0].pk]
