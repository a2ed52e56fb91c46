"""What every product's preset shares: unknown values, refused rows and their fixable copy, updates, owners."""

from io import StringIO

import pytest
from django.core.management import call_command

from leadflow.accounts.models import Contact
from leadflow.imports.report import REASON_COLUMN
from leadflow.imports.services import import_path
from leadflow.leads.models import Lead

from ..factories import UserFactory
from .vendor_files import HUBSPOT_CONTACTS, HUBSPOT_DEALS, read, write

pytestmark = pytest.mark.django_db
SOURCES = ["PAID_SEARCH", "SOCIAL_MEDIA", "OFFLINE", "DIRECT_TRAFFIC", "EMAIL_MARKETING", "ORGANIC_SEARCH",
           "REFERRALS"]  # fmt: skip


def people(count, **columns):
    return [{"Record ID": str(n), "First Name": f"Person{n}", "Last Name": "Example", "Email": f"p{n}@acme.example",
             "Create Date": "2024-03-05 10:30", "Original Source": SOURCES[n % len(SOURCES)], **columns}
            for n in range(1, count + 1)]  # fmt: skip


@pytest.fixture
def run(admin):
    return lambda path, **options: import_path(path, preset="hubspot", by=admin, **options)


def test_the_export_of_the_issue_brings_in_every_good_row(tmp_path, run):
    rows = people(50)
    rows += [{**rows[0], "Record ID": "", "Email": "  P1@ACME.example "}, {**rows[1], "Email": "P2@Acme.Example"}]
    rows += [{**rows[n], "Record ID": f"9{n}", "Email": bad} for n, bad in ((2, "p3@"), (3, "no at"), (4, "x@@y"))]
    rows.append({**rows[5], "Record ID": "96", "Email": "late@acme.example", "Create Date": "31/02/2024 25:00"})
    path = write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, rows)
    report = run(path)
    counts = report.tables["HubSpot contacts"]
    assert (counts.read, counts.new, counts.invalid) == (56, 51, 3)
    assert Lead.objects.filter(external_id__startswith="hubspot:").count() == 51
    assert Contact.objects.filter(email__in=["p1@acme.example", "p2@acme.example"]).count() == 2
    assert not report.unknown
    assert report.warnings == ["contacts.csv row 57: Create Date '31/02/2024 25:00' is not a date; left blank."]


def test_unknown_values_are_imported_as_other_kept_and_counted(tmp_path, run):
    rows = people(3, **{"Original Source": "CARRIER_PIGEON", "Lifecycle Stage": "champion"})
    rows[0]["Country/Region"] = "Atlantis"
    report = run(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, rows))
    assert report.tables["HubSpot contacts"].new == 3
    lead = Lead.objects.get(external_id="hubspot:1")
    assert (lead.source, lead.source_detail, lead.lifecycle_stage) == ("other", "CARRIER_PIGEON", "lead")
    assert lead.contact.attributes["hubspot"] == {"Lifecycle Stage": "champion", "Country/Region": "Atlantis"}
    assert dict(report.unknown) == {
        ("Original Source", "CARRIER_PIGEON"): 3,
        ("Lifecycle Stage", "champion"): 3,
        ("Country/Region", "Atlantis"): 1,
    }
    summary = report.summary()
    assert "Original Source: 'CARRIER_PIGEON' on 3 rows" in summary
    assert "Country/Region: 'Atlantis' on 1 row" in summary


def test_a_row_without_email_phone_or_record_id_is_refused(tmp_path, run):
    rows = [{"First Name": "Nobody"}, {"First Name": "Phone", "Phone Number": "+44 20 7946 0000"}]
    report = run(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, rows))
    assert [e.reason for e in report.errors] == [
        "No email, phone or HubSpot record id: nothing identifies this person."]  # fmt: skip
    assert Lead.objects.get().contact.phone == "+44 20 7946 0000"


def test_the_errors_file_is_a_fixable_copy_that_imports_back(tmp_path, admin):
    rows = people(3)
    rows[1]["Email"] = "p2@acme"
    rows[2]["Email"] = "p3 at acme.example"
    path = write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, rows)
    errors = tmp_path / "contacts-errors.csv"
    out = StringIO()
    call_command("import", str(path), "--preset", "hubspot", "--errors", str(errors), stdout=out)
    assert "2 refused rows written to" in out.getvalue()
    copy = read(errors)
    assert list(copy[0]) == [*HUBSPOT_CONTACTS, REASON_COLUMN]
    assert [row["Record ID"] for row in copy] == ["2", "3"]
    assert copy[0][REASON_COLUMN] == "contacts.csv row 3: Email 'p2@acme' is not a valid email address."
    assert copy[1]["Original Source"] == rows[2]["Original Source"]
    fixed = [{**row, "Email": f"p{row['Record ID']}@acme.example"} for row in copy]
    write(errors, [*HUBSPOT_CONTACTS, REASON_COLUMN], fixed)
    call_command("import", str(errors), "--preset", "hubspot", stdout=StringIO())
    assert sorted(Lead.objects.values_list("contact__email", flat=True)) == [
        "p1@acme.example", "p2@acme.example", "p3@acme.example"]  # fmt: skip


def test_refused_rows_of_several_files_come_back_as_a_zip_of_copies(tmp_path, admin):
    write(tmp_path / "export" / "contacts.csv", HUBSPOT_CONTACTS, [{"Email": "bad@"}])
    write(tmp_path / "export" / "deals.csv", HUBSPOT_DEALS, [{"Amount": "5"}])
    report = import_path(tmp_path / "export", preset="hubspot", by=admin)
    suffix, content = report.errors_file()
    assert suffix == ".zip"
    (tmp_path / "errors.zip").write_bytes(content)
    again = import_path(tmp_path / "errors.zip", preset="hubspot", by=admin)
    assert {name: counts.invalid for name, counts in again.tables.items()} == {
        "HubSpot contacts": 1, "HubSpot deals": 1}  # fmt: skip


def test_fill_only_fills_blank_fields_and_says_which(tmp_path, run):
    run(write(tmp_path / "v1.csv", HUBSPOT_CONTACTS, people(2, **{"Job Title": "", "First Name": "Old"})))
    report = run(write(tmp_path / "v2.csv", HUBSPOT_CONTACTS, people(2, **{"Job Title": "CFO", "First Name": "New"})))
    assert report.tables["HubSpot contacts"].updated == 2
    assert set(Contact.objects.values_list("first_name", "job_title")) == {("Old", "CFO")}
    assert dict(report.changed) == {"contacts: job_title": 2}
    assert "contacts: job_title on 2 records" in report.summary()


def test_overwrite_replaces_what_differs_but_a_blank_cell_erases_nothing(tmp_path, run):
    run(write(tmp_path / "v1.csv", HUBSPOT_CONTACTS, people(2, **{"Job Title": "CEO", "First Name": "Old"})))
    report = run(
        write(tmp_path / "v2.csv", HUBSPOT_CONTACTS, people(2, **{"Job Title": "", "First Name": "New"})),
        update="overwrite",
    )
    assert set(Contact.objects.values_list("first_name", "job_title")) == {("New", "CEO")}
    assert dict(report.changed) == {"contacts: first_name": 2}


def test_records_are_matched_by_email_when_the_record_id_is_new(tmp_path, run):
    run(write(tmp_path / "v1.csv", HUBSPOT_CONTACTS, people(1)))
    report = run(write(tmp_path / "v2.csv", HUBSPOT_CONTACTS, people(1, **{"Record ID": "777", "Job Title": "CFO"})))
    assert report.tables["HubSpot contacts"].updated == 1
    assert Lead.objects.get().contact.job_title == "CFO"


def test_the_dry_run_shows_the_changes_and_writes_nothing(tmp_path, admin):
    import_path(write(tmp_path / "v1.csv", HUBSPOT_CONTACTS, people(2)), preset="hubspot", by=admin)
    out = StringIO()
    path = write(tmp_path / "v2.csv", HUBSPOT_CONTACTS, people(3, **{"Job Title": "CFO"}))
    call_command("import", str(path), "--preset", "hubspot", "--dry-run", stdout=out)
    assert "contacts: job_title on 2 records" in out.getvalue()
    assert "Dry run: nothing was written." in out.getvalue()
    assert Lead.objects.count() == 2 and not Contact.objects.exclude(job_title="").exists()


def test_re_importing_the_same_export_changes_nothing(tmp_path, run):
    path = write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, people(3, **{"Lead Status": "BAD_TIMING"}))
    run(path)
    again = run(path)
    assert again.changed_nothing and again.tables["HubSpot contacts"].duplicate == 3
    assert set(Lead.objects.values_list("lifecycle_stage", flat=True)) == {"recycled"}


def test_owners_are_matched_by_email_or_name_and_the_rest_listed(tmp_path, run, east):
    jo = UserFactory(username="jo", first_name="Jo", last_name="Marsh", email="jo@seller.example", team=east)
    rows = people(4)
    rows[0]["Contact owner"] = "jo@seller.example"
    rows[1]["Contact owner"] = "Jo Marsh"
    rows[2]["Contact owner"] = "Someone Gone"
    report = run(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, rows))
    owners = dict(Lead.objects.values_list("external_id", "owner"))
    assert owners == {"hubspot:1": jo.pk, "hubspot:2": jo.pk, "hubspot:3": None, "hubspot:4": None}
    assert Lead.objects.get(external_id="hubspot:1").team == east
    assert dict(report.unmatched_owners) == {"Someone Gone": 1}
    assert "'Someone Gone' on 1 record" in report.summary()


def test_a_folder_without_any_export_of_the_product_is_refused(tmp_path, run):
    write(tmp_path / "export" / "notes.csv", ["Note", "When"], [{"Note": "hi"}])
    with pytest.raises(Exception, match="No HubSpot export found"):
        run(tmp_path / "export")
