"""The HubSpot preset: contacts, companies and deals exports, by internal value and by label."""

from datetime import datetime

import pytest
from openpyxl import Workbook

from leadflow.accounts.models import Account
from leadflow.imports.services import import_path
from leadflow.leads.models import Lead, StageChange
from leadflow.pipeline.models import Opportunity

from .vendor_files import HUBSPOT_COMPANIES, HUBSPOT_CONTACTS, HUBSPOT_DEALS, write, zip_folder

pytestmark = pytest.mark.django_db


def person(record_id, email, **columns):
    first, _, last = email.split("@")[0].partition(".")
    return {"Record ID": record_id, "Email": email, "First Name": first.title(), "Last Name": last.title(),
            "Create Date": "2024-03-05 10:30", **columns}  # fmt: skip


@pytest.fixture
def run(admin):
    return lambda path, **options: import_path(path, preset="hubspot", by=admin, **options)


def steps(lead):
    return [(step.to_stage, step.reason) for step in StageChange.objects.filter(lead=lead).order_by("at", "id")]


@pytest.mark.parametrize("value", ["PAID_SEARCH", "Paid Search"])
def test_original_source_is_read_as_internal_value_or_label(tmp_path, run, value):
    run(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, [person("1", "ana.lima@northwind.example",
        **{"Original Source": value, "Original Source Drill-Down 1": "google"})]))  # fmt: skip
    lead = Lead.objects.get()
    assert (lead.source, lead.first_touch_channel, lead.source_detail) == ("inbound_marketing", value, "google")
    assert lead.external_id == "hubspot:1"


@pytest.mark.parametrize(("value", "source"), [
    ("ORGANIC_SEARCH", "inbound_marketing"), ("Organic Search", "inbound_marketing"),
    ("PAID_SEARCH", "inbound_marketing"), ("EMAIL_MARKETING", "inbound_marketing"),
    ("Email Marketing", "inbound_marketing"), ("SOCIAL_MEDIA", "inbound_marketing"),
    ("Organic Social", "inbound_marketing"), ("REFERRALS", "referral_partner"), ("Referrals", "referral_partner"),
    ("OTHER_CAMPAIGNS", "inbound_marketing"), ("Other Campaigns", "inbound_marketing"),
    ("DIRECT_TRAFFIC", "inbound_marketing"), ("Direct Traffic", "inbound_marketing"), ("OFFLINE", "other"),
    ("Offline Sources", "other"), ("PAID_SOCIAL", "inbound_marketing"), ("Paid Social", "inbound_marketing"),
    ("AI_REFERRALS", "inbound_marketing"), ("AI Referrals", "inbound_marketing"),
])  # fmt: skip
def test_every_original_source_maps(tmp_path, run, value, source):
    report = run(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS,
                       [person("1", "ana.lima@northwind.example", **{"Original Source": value})]))  # fmt: skip
    assert Lead.objects.get().source == source
    assert not report.unknown


@pytest.mark.parametrize(("value", "stage", "reason"), [
    ("subscriber", "lead", None), ("Subscriber", "lead", None), ("lead", "lead", None), ("Lead", "lead", None),
    ("marketingqualifiedlead", "prospect", "HubSpot lifecycle stage: marketingqualifiedlead"),
    ("Marketing Qualified Lead", "prospect", "HubSpot lifecycle stage: Marketing Qualified Lead"),
    ("salesqualifiedlead", "prospect", "HubSpot lifecycle stage: salesqualifiedlead"),
    ("Sales Qualified Lead", "prospect", "HubSpot lifecycle stage: Sales Qualified Lead"),
    ("opportunity", "prospect", "HubSpot lifecycle stage: opportunity (no deal of theirs in this import)"),
    ("customer", "prospect", "HubSpot lifecycle stage: customer (no deal of theirs in this import)"),
    ("Evangelist", "prospect", "HubSpot lifecycle stage: Evangelist (no deal of theirs in this import)"),
    ("other", "lead", None),
])  # fmt: skip
def test_every_lifecycle_stage_comes_along(tmp_path, run, value, stage, reason):
    report = run(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS,
                       [person("1", "ana.lima@northwind.example", **{"Lifecycle Stage": value})]))  # fmt: skip
    lead = Lead.objects.get()
    assert lead.lifecycle_stage == stage
    assert steps(lead) == [("lead", "Captured")] + ([(stage, reason)] if reason else [])
    assert lead.contact.attributes["hubspot"]["Lifecycle Stage"] == value
    assert report.without_deal == ([f"Ana Lima (HubSpot lifecycle stage: {value})"] if "deal" in (reason or "") else [])


@pytest.mark.parametrize(("value", "expected"), [
    ("NEW", ["lead"]), ("OPEN", ["lead"]), ("In Progress", ["lead"]), ("OPEN_DEAL", ["lead"]),
    ("ATTEMPTED_TO_CONTACT", ["lead"]), ("Connected", ["lead"]),
    ("UNQUALIFIED", ["lead", "disqualified"]), ("Unqualified", ["lead", "disqualified"]),
    ("BAD_TIMING", ["lead", "disqualified", "recycled"]), ("Bad Timing", ["lead", "disqualified", "recycled"]),
])  # fmt: skip
def test_every_lead_status_comes_along(tmp_path, run, value, expected):
    run(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS,
              [person("1", "ana.lima@northwind.example", **{"Lead Status": value})]))  # fmt: skip
    lead = Lead.objects.get()
    assert [stage for stage, _ in steps(lead)] == expected
    assert all(reason == f"HubSpot lead status: {value}" for _, reason in steps(lead)[1:])


def test_a_qualified_lead_with_bad_timing_is_recycled_from_prospect(tmp_path, run):
    run(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, [person("1", "ana.lima@northwind.example", **{
        "Lifecycle Stage": "salesqualifiedlead", "Lead Status": "BAD_TIMING"})]))  # fmt: skip
    assert [stage for stage, _ in steps(Lead.objects.get())] == ["lead", "prospect", "recycled"]


@pytest.mark.parametrize(("value", "stage", "closed"), [
    ("appointmentscheduled", "Prospecting", False), ("Appointment Scheduled", "Prospecting", False),
    ("qualifiedtobuy", "Qualification", False), ("Qualified To Buy", "Qualification", False),
    ("presentationscheduled", "Qualification", False), ("Presentation Scheduled", "Qualification", False),
    ("decisionmakerboughtin", "Proposal", False), ("Decision Maker Bought-In", "Proposal", False),
    ("contractsent", "Negotiation", False), ("Contract Sent", "Negotiation", False),
    ("closedwon", "Closed won", True), ("Closed Won", "Closed won", True),
    ("closedlost", "Closed lost", True), ("Closed Lost", "Closed lost", True),
])  # fmt: skip
def test_every_deal_stage_lands_in_the_pipeline(tmp_path, run, value, stage, closed):
    write(tmp_path / "export" / "contacts.csv", HUBSPOT_CONTACTS, [person("1", "ana.lima@northwind.example")])
    write(
        tmp_path / "export" / "deals.csv",
        HUBSPOT_DEALS,
        [
            {
                "Record ID": "900",
                "Deal Name": "Northwind renewal",
                "Deal Stage": value,
                "Pipeline": "default",
                "Amount": "12,500.50",
                "Close Date": "2024-06-30",
                "Create Date": "2024-04-01",
                "Associated Contact IDs": "1",
            }
        ],
    )
    run(tmp_path / "export")
    deal = Opportunity.objects.get()
    assert (deal.stage.name, deal.amount, deal.external_id) == (stage, 12500.50, "hubspot:900")
    assert (deal.closed_at is not None) == closed
    lead = Lead.objects.get()
    assert deal.lead == lead
    expected = {"Closed won": "customer"}.get(stage, "opportunity")
    assert lead.lifecycle_stage == expected
    history = [(change.to_stage.name, change.reason) for change in deal.stage_changes.order_by("at", "id")]
    assert history[0] == ("Prospecting", "Opened")
    if stage != "Prospecting":
        assert history[-1] == (stage, f"HubSpot deal stage: {value}")
    if closed:
        assert deal.closed_at.date().isoformat() == "2024-06-30"
    else:
        assert deal.expected_close_date.isoformat() == "2024-06-30"


def test_a_customer_with_their_won_deal_becomes_a_customer_through_it(tmp_path, run):
    write(
        tmp_path / "export" / "contacts.csv",
        HUBSPOT_CONTACTS,
        [person("1", "ana.lima@northwind.example", **{"Lifecycle Stage": "customer", "Associated Company ID": "50"})],
    )
    write(
        tmp_path / "export" / "companies.csv",
        HUBSPOT_COMPANIES,
        [
            {
                "Record ID": "50",
                "Company name": "Northwind",
                "Company Domain Name": "northwind.example",
                "Industry": "COMPUTER_SOFTWARE",
                "Number of Employees": "250",
                "Country/Region": "United Kingdom",
            }
        ],
    )
    write(
        tmp_path / "export" / "deals.csv",
        HUBSPOT_DEALS,
        [
            {
                "Record ID": "900",
                "Deal Name": "Northwind",
                "Deal Stage": "closedwon",
                "Amount": "1000",
                "Close Date": "2024-06-30",
                "Create Date": "2024-04-01",
                "Associated Company IDs": "50",
            }
        ],
    )
    report = run(zip_folder(tmp_path / "export", tmp_path / "hubspot-export.zip"))
    lead = Lead.objects.get()
    account = Account.objects.get()
    assert (account.external_id, account.employee_band, account.country) == ("hubspot:50", "200-499", "GB")
    assert lead.contact.account == account
    deal = Opportunity.objects.get()
    assert (deal.account, deal.lead) == (account, lead)
    assert [stage for stage, _ in steps(lead)] == ["lead", "opportunity", "customer"]
    assert report.without_deal == []
    assert {name: counts.new for name, counts in report.tables.items()} == {
        "HubSpot companies": 1, "HubSpot contacts": 1, "HubSpot deals": 1}  # fmt: skip


def test_an_xlsx_export_is_read(tmp_path, run):
    book = Workbook()
    sheet = book.active
    sheet.append(["Record ID", "First Name", "Email", "Lifecycle Stage", "Create Date"])
    sheet.append([101, "Ana", "ana@northwind.example", "Sales Qualified Lead", datetime(2024, 3, 5, 10, 30)])
    book.save(tmp_path / "hubspot-crm-exports-all-contacts.xlsx")
    run(tmp_path / "hubspot-crm-exports-all-contacts.xlsx")
    lead = Lead.objects.get()
    assert (lead.external_id, lead.lifecycle_stage) == ("hubspot:101", "prospect")
    assert lead.created_at.isoformat() == "2024-03-05T10:30:00+00:00"
