"""The Pipedrive preset: persons, organizations and deals exports."""

import pytest

from leadflow.accounts.models import Account
from leadflow.imports.services import import_path
from leadflow.leads.models import Lead, StageChange
from leadflow.pipeline.models import Opportunity

from ..factories import UserFactory
from .vendor_files import PIPEDRIVE_DEALS, PIPEDRIVE_ORGANIZATIONS, PIPEDRIVE_PERSONS, write, zip_folder

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(admin):
    return lambda path, **options: import_path(path, preset="pipedrive", by=admin, **options)


def person(**columns):
    return {"Person - ID": "11", "Person - Name": "Chloe Park", "Person - Email": "chloe@fabrikam.example",
            "Person - Organization": "Fabrikam", "Person - Person created": "2024-02-01 09:15:00",
            **columns}  # fmt: skip


def deal(**columns):
    return {"Deal - ID": "71", "Deal - Title": "Fabrikam deal", "Deal - Value": "9900", "Deal - Currency": "EUR",
            "Deal - Status": "open", "Deal - Stage": "Qualified", "Deal - Pipeline": "Pipeline",
            "Deal - Organization": "Fabrikam", "Deal - Contact person": "Chloe Park",
            "Deal - Deal created": "2024-02-10 11:00:00", **columns}  # fmt: skip


@pytest.mark.parametrize(("label", "stage"), [
    ("Hot lead", "prospect"), ("Warm lead", "lead"), ("Cold lead", "lead"), ("Customer", "prospect"), ("", "lead"),
])  # fmt: skip
def test_person_labels_come_along(tmp_path, run, label, stage):
    report = run(write(tmp_path / "persons.csv", PIPEDRIVE_PERSONS, [person(**{"Person - Label": label})]))
    lead = Lead.objects.get()
    assert (lead.lifecycle_stage, lead.contact.first_name, lead.contact.last_name) == (stage, "Chloe", "Park")
    assert lead.contact.account.name == "Fabrikam"
    if stage == "prospect":
        assert StageChange.objects.filter(lead=lead).last().reason.startswith(f"Pipedrive label: {label}")
    assert bool(report.without_deal) == (label == "Customer")


@pytest.mark.parametrize(("stage", "status", "expected", "lead_stage"), [
    ("Qualified", "open", "Prospecting", "opportunity"), ("Contact Made", "open", "Qualification", "opportunity"),
    ("Demo Scheduled", "open", "Qualification", "opportunity"), ("Proposal Made", "open", "Proposal", "opportunity"),
    ("Negotiations Started", "open", "Negotiation", "opportunity"),
    ("Negotiations Started", "won", "Closed won", "customer"), ("Proposal Made", "lost", "Closed lost", "opportunity"),
])  # fmt: skip
def test_every_stage_and_status_lands_in_the_pipeline(tmp_path, run, stage, status, expected, lead_stage):
    folder = tmp_path / "pipedrive"
    write(
        folder / "organizations.csv",
        PIPEDRIVE_ORGANIZATIONS,
        [
            {
                "Organization - ID": "5",
                "Organization - Name": "Fabrikam",
                "Organization - Organization created": "2024-01-01 00:00:00",
            }
        ],
    )
    write(folder / "persons.csv", PIPEDRIVE_PERSONS, [person(**{"Person - Label": "Customer"})])
    write(folder / "deals.csv", PIPEDRIVE_DEALS, [deal(**{"Deal - Stage": stage, "Deal - Status": status,
          "Deal - Won time": "2024-04-02 10:00:00" if status == "won" else "",
          "Deal - Lost time": "2024-04-03 10:00:00" if status == "lost" else "",
          "Deal - Lost reason": "Went with a competitor" if status == "lost" else ""})])  # fmt: skip
    report = run(zip_folder(folder, tmp_path / "pipedrive.zip"))
    opportunity = Opportunity.objects.get()
    lead = Lead.objects.get()
    assert (opportunity.stage.name, opportunity.currency, opportunity.amount) == (expected, "EUR", 9900)
    assert (opportunity.lead, opportunity.account) == (lead, Account.objects.get())
    assert lead.lifecycle_stage == lead_stage
    assert report.without_deal == []
    if status == "won":
        assert opportunity.closed_at.date().isoformat() == "2024-04-02"
    if status == "lost":
        assert opportunity.lost_reason.name == "Unknown (imported)"
        assert opportunity.review_note == "Lost reason in Pipedrive: Went with a competitor"


def test_a_custom_stage_is_listed_and_the_deal_kept(tmp_path, run):
    write(tmp_path / "export" / "persons.csv", PIPEDRIVE_PERSONS, [person()])
    write(tmp_path / "export" / "deals.csv", PIPEDRIVE_DEALS, [deal(**{"Deal - Stage": "Legal review"})])
    report = run(tmp_path / "export")
    assert Opportunity.objects.get().stage.name == "Prospecting"
    assert dict(report.unknown) == {("Deal - Stage", "Legal review"): 1}


def test_deal_owners_are_matched_by_name(tmp_path, run, east):
    owner = UserFactory(username="pat", first_name="Pat", last_name="Quinn", team=east)
    write(tmp_path / "export" / "persons.csv", PIPEDRIVE_PERSONS, [person(**{"Person - Owner": "Pat Quinn"})])
    write(tmp_path / "export" / "deals.csv", PIPEDRIVE_DEALS, [deal(**{"Deal - Owner": "Pat Quinn"})])
    run(tmp_path / "export")
    assert (Lead.objects.get().owner, Opportunity.objects.get().owner) == (owner, owner)
    assert Opportunity.objects.get().team == east


def test_overwrite_moves_an_imported_deal_to_its_new_stage(tmp_path, run):
    write(tmp_path / "v1" / "persons.csv", PIPEDRIVE_PERSONS, [person()])
    write(tmp_path / "v1" / "deals.csv", PIPEDRIVE_DEALS, [deal()])
    run(tmp_path / "v1")
    write(tmp_path / "v2" / "deals.csv", PIPEDRIVE_DEALS, [deal(**{"Deal - Stage": "Proposal Made"})])
    assert Opportunity.objects.get().stage.name == "Prospecting"
    filled = run(tmp_path / "v2")
    assert Opportunity.objects.get().stage.name == "Prospecting" and filled.changed_nothing
    report = run(tmp_path / "v2", update="overwrite")
    assert Opportunity.objects.get().stage.name == "Proposal"
    assert dict(report.changed) == {"opportunities: stage": 1}


def test_a_single_object_export_without_the_prefix_is_read(tmp_path, run):
    header = ["ID", "Name", "Email", "Organization", "Label", "Person created"]
    row = {"ID": "11", "Name": "Chloe Park", "Email": "chloe@fabrikam.example", "Organization": "Fabrikam",
           "Label": "Hot lead", "Person created": "2024-02-01 09:15:00"}  # fmt: skip
    report = run(write(tmp_path / "people-export.csv", header, [row]))
    lead = Lead.objects.get()
    assert (lead.external_id, lead.lifecycle_stage, lead.contact.account.name) == (
        "pipedrive:11",
        "prospect",
        "Fabrikam",
    )
    assert report.tables["Pipedrive persons"].new == 1
