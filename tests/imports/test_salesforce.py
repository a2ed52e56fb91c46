"""The Salesforce preset: Data Export object files (API names) and report exports (labels)."""

import pytest

from leadflow.accounts.models import Account
from leadflow.imports.services import import_path
from leadflow.leads.models import Lead, StageChange
from leadflow.pipeline.models import Opportunity

from ..factories import UserFactory
from .vendor_files import (
    SALESFORCE_ACCOUNTS,
    SALESFORCE_CONTACTS,
    SALESFORCE_LEAD_REPORT,
    SALESFORCE_LEADS,
    SALESFORCE_OPPORTUNITIES,
    SALESFORCE_USERS,
    write,
    zip_folder,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(admin):
    return lambda path, **options: import_path(path, preset="salesforce", by=admin, **options)


def lead_row(record_id, email, **columns):
    return {"Id": record_id, "FirstName": "Chloe", "LastName": "Park", "Email": email, "Company": "Fabrikam",
            "CreatedDate": "2024-02-01T09:15:00.000Z", "IsConverted": "false", **columns}  # fmt: skip


def steps(lead):
    return [(s.to_stage, s.reason) for s in StageChange.objects.filter(lead=lead).order_by("at", "id")]


@pytest.mark.parametrize(("status", "rating", "expected"), [
    ("Open - Not Contacted", "", ["lead"]),
    ("Working - Contacted", "Warm", ["lead"]),
    ("Working - Contacted", "Hot", ["lead", "prospect"]),
    ("Closed - Not Converted", "", ["lead", "disqualified"]),
    ("Closed - Converted", "", ["lead", "prospect"]),
    ("New", "", ["lead"]), ("Working", "Cold", ["lead"]), ("Nurturing", "", ["lead", "disqualified", "recycled"]),
    ("Qualified", "", ["lead", "prospect"]), ("Unqualified", "", ["lead", "disqualified"]),
])  # fmt: skip
def test_every_lead_status_comes_along(tmp_path, run, status, rating, expected):
    report = run(write(tmp_path / "Lead.csv", SALESFORCE_LEADS,
                       [lead_row("00Q1", "chloe@fabrikam.example", Status=status, Rating=rating)]))  # fmt: skip
    lead = Lead.objects.get()
    assert [stage for stage, _ in steps(lead)] == expected
    assert lead.external_id == "salesforce:00Q1"
    assert lead.created_at.isoformat() == "2024-02-01T09:15:00+00:00"
    if len(expected) > 1:
        assert steps(lead)[1][1].startswith(f"Salesforce lead status: {status}")
    assert bool(report.without_deal) == (status in ("Closed - Converted", "Qualified"))


@pytest.mark.parametrize(("value", "source"), [
    ("Web", "inbound_marketing"), ("Phone Inquiry", "inbound_marketing"), ("Partner Referral", "referral_partner"),
    ("Purchased List", "purchased_list"), ("Other", "other"), ("Trade Show", "event_webinar"),
    ("Employee Referral", "referral_partner"), ("Cold Call", "outbound_prospecting"),
])  # fmt: skip
def test_lead_sources_map_and_an_edited_picklist_value_is_kept(tmp_path, run, value, source):
    rows = [lead_row("00Q1", "a@fabrikam.example", LeadSource=value),
            lead_row("00Q2", "b@fabrikam.example", LeadSource="Spring Gala 2024")]  # fmt: skip
    report = run(write(tmp_path / "Lead.csv", SALESFORCE_LEADS, rows))
    assert Lead.objects.get(external_id="salesforce:00Q1").source == source
    other = Lead.objects.get(external_id="salesforce:00Q2")
    assert (other.source, other.source_detail) == ("other", "Spring Gala 2024")
    assert dict(report.unknown) == {("LeadSource", "Spring Gala 2024"): 1}


def test_a_report_export_with_labels_is_read(tmp_path, run, east):
    owner = UserFactory(username="dana", first_name="Dana", last_name="Reyes", team=east)
    row = {"First Name": "Chloe", "Last Name": "Park", "Title": "VP Finance", "Company / Account": "Fabrikam",
           "Email": "chloe@fabrikam.example", "Lead Status": "Working - Contacted", "Lead Source": "Web",
           "Rating": "Hot", "Create Date": "2/1/2024, 9:15 AM", "Lead Owner": "Dana Reyes"}  # fmt: skip
    report = run(write(tmp_path / "report1712345.csv", SALESFORCE_LEAD_REPORT, [row]))
    lead = Lead.objects.get()
    assert (lead.lifecycle_stage, lead.source, lead.owner, lead.contact.job_title) == (
        "prospect", "inbound_marketing", owner, "VP Finance")  # fmt: skip
    assert lead.contact.account.name == "Fabrikam"
    assert lead.created_at.isoformat() == "2024-02-01T09:15:00+00:00"
    assert report.tables["Salesforce leads"].new == 1


@pytest.mark.parametrize(("stage", "is_won", "is_closed", "expected"), [
    ("Prospecting", "false", "false", "Prospecting"), ("Qualification", "false", "false", "Qualification"),
    ("Needs Analysis", "false", "false", "Qualification"), ("Value Proposition", "false", "false", "Proposal"),
    ("Id. Decision Makers", "false", "false", "Proposal"), ("Perception Analysis", "false", "false", "Proposal"),
    ("Proposal/Price Quote", "false", "false", "Proposal"), ("Negotiation/Review", "false", "false", "Negotiation"),
    ("Closed Won", "true", "true", "Closed won"), ("Closed Lost", "false", "true", "Closed lost"),
    ("Signed (custom)", "true", "true", "Closed won"), ("Parked (custom)", "false", "false", "Prospecting"),
])  # fmt: skip
def test_every_opportunity_stage_lands_in_the_pipeline(tmp_path, run, stage, is_won, is_closed, expected):
    folder = tmp_path / "WE_00D000000000001"
    write(
        folder / "Account.csv",
        SALESFORCE_ACCOUNTS,
        [
            {
                "Id": "001A",
                "Name": "Fabrikam",
                "Website": "fabrikam.example",
                "NumberOfEmployees": "1200",
                "BillingCountry": "US",
                "CreatedDate": "2023-11-01T00:00:00.000Z",
            }
        ],
    )
    write(
        folder / "Contact.csv",
        SALESFORCE_CONTACTS,
        [
            {
                "Id": "003A",
                "FirstName": "Chloe",
                "LastName": "Park",
                "Email": "chloe@fabrikam.example",
                "AccountId": "001A",
                "CreatedDate": "2024-02-03T00:00:00.000Z",
            }
        ],
    )
    write(
        folder / "Lead.csv",
        SALESFORCE_LEADS,
        [
            lead_row(
                "00Q1",
                "chloe@fabrikam.example",
                Status="Closed - Converted",
                IsConverted="true",
                ConvertedContactId="003A",
                ConvertedAccountId="001A",
                ConvertedOpportunityId="006A",
            )
        ],
    )
    write(folder / "Opportunity.csv", SALESFORCE_OPPORTUNITIES, [{"Id": "006A", "Name": "Fabrikam platform",
          "AccountId": "001A", "StageName": stage, "Amount": "48000", "CloseDate": "2024-05-31", "IsWon": is_won,
          "IsClosed": is_closed, "CreatedDate": "2024-02-03T10:00:00.000Z"}])  # fmt: skip
    report = run(zip_folder(folder, tmp_path / "export.zip"))
    lead = Lead.objects.get()
    deal = Opportunity.objects.get()
    assert (deal.stage.name, deal.lead, deal.account, deal.amount) == (expected, lead, Account.objects.get(), 48000)
    assert lead.contact.external_id == "salesforce:00Q1" and Account.objects.get().employee_band == "1000-1999"
    assert lead.lifecycle_stage == ("customer" if expected == "Closed won" else "opportunity")
    assert report.without_deal == []
    assert report.tables["Salesforce contacts"].duplicate == 1  # the converted lead's contact is the same person
    if "custom" in stage:
        assert dict(report.unknown) == {("StageName", stage): 1}


def test_owner_ids_are_matched_through_user_csv(tmp_path, run, east):
    dana = UserFactory(username="dana", email="dana@fabrikam-sales.example", team=east)
    write(
        tmp_path / "export" / "User.csv",
        SALESFORCE_USERS,
        [
            {"Id": "005A", "Username": "dana@fabrikam.sf", "Email": "dana@fabrikam-sales.example", "Name": "Dana R"},
            {"Id": "005B", "Username": "old@fabrikam.sf", "Email": "old@elsewhere.example", "Name": "Olga Left"},
        ],
    )
    write(tmp_path / "export" / "Lead.csv", SALESFORCE_LEADS, [
        lead_row("00Q1", "a@fabrikam.example", OwnerId="005A"), lead_row("00Q2", "b@fabrikam.example", OwnerId="005B"),
        lead_row("00Q3", "c@fabrikam.example", OwnerId="005Z")])  # fmt: skip
    report = run(tmp_path / "export")
    owners = dict(Lead.objects.values_list("external_id", "owner"))
    assert owners == {"salesforce:00Q1": dana.pk, "salesforce:00Q2": None, "salesforce:00Q3": None}
    assert dict(report.unmatched_owners) == {"Olga Left": 1, "005Z": 1}
