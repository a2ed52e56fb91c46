"""Spreadsheet imports: presets, mapping, validation, dedupe, idempotence, the dry run and the errors file."""

import csv
import gzip
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from leadflow.accounts.models import Account, Contact
from leadflow.errors import InvalidInput
from leadflow.imports.spreadsheet import SpreadsheetImport, detect_mapping
from leadflow.leads.models import Lead, StageChange

from ..factories import AccountFactory

pytestmark = pytest.mark.django_db

HUBSPOT = ["Record ID", "First Name", "Last Name", "Email", "Company Name", "Website URL", "Number of Employees",
           "Country/Region", "Original Source", "Create Date", "Contact owner"]  # fmt: skip
SALESFORCE = ["Lead ID", "First Name", "Last Name", "Email", "Company", "Title", "Lead Source", "Created Date",
              "Description"]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def run(admin):
    """run(path, **options) → the report of importing the file as the admin."""
    return lambda path, **options: SpreadsheetImport(path, by=admin, **options).run()


def test_crm_style_columns_and_values_are_recognised(tmp_path, run, rep):
    path = write_csv(tmp_path / "hubspot.csv", HUBSPOT, [
        ["101", "Ana", "Lima", "ana@northwind.example", "Northwind", "https://www.northwind.example", "250",
         "United Kingdom", "Organic Search", "2024-03-05 10:30", rep.username],
        ["102", "Ben", "Ortiz", "ben@contoso.example", "Contoso", "", "12", "US", "Referrals", "2024-03-06", ""],
    ])  # fmt: skip
    report = run(path)
    assert report.tables["leads"].new == 2
    ana = Lead.objects.get(external_id="101")
    assert (ana.source, ana.owner, ana.created_at.date().isoformat()) == ("inbound_marketing", rep, "2024-03-05")
    account = ana.contact.account
    assert (account.domain, account.employee_band, account.country) == ("northwind.example", "200-499", "GB")
    assert Lead.objects.get(external_id="102").source == "referral_partner"


def test_an_imported_lead_has_the_captured_history_row(tmp_path, run, admin):
    run(write_csv(tmp_path / "a.csv", ["Email", "Created"], [["a@acme.example", "2024-01-02"]]))
    change = StageChange.objects.get()
    assert (change.from_stage, change.to_stage, change.reason, change.by) == ("", "lead", "Captured", admin)
    assert change.at.date().isoformat() == "2024-01-02"


def test_salesforce_style_columns_are_recognised(tmp_path, run):
    path = write_csv(tmp_path / "sf.csv", SALESFORCE, [
        ["00Q1", "Chloe", "Park", "chloe@fabrikam.example", "Fabrikam", "VP Finance", "Trade Show", "2024-02-01",
         "Invoices take weeks"],
    ])  # fmt: skip
    assert run(path).tables["leads"].new == 1
    lead = Lead.objects.get(external_id="00Q1")
    assert (lead.source, lead.need, lead.contact.job_title) == ("event_webinar", "Invoices take weeks", "VP Finance")
    assert lead.contact.account.name == "Fabrikam"


def test_headers_are_recognised_whatever_their_spelling():
    mapping = detect_mapping(["E-mail", "first name", "Company", "utm_campaign", "Mystery"])
    assert mapping == {"E-mail": "email", "first name": "first_name", "Company": "company_name",
                       "utm_campaign": "utm_campaign"}  # fmt: skip


def test_xlsx_and_gzipped_csv_are_read(tmp_path, run):
    book = Workbook()
    book.active.append(["Email", "First Name"])
    book.active.append(["xl@acme.example", "Excel"])
    book.save(tmp_path / "leads.xlsx")
    write_csv(tmp_path / "leads.csv.gz", ["Email"], [["gz@acme.example"]])
    assert run(tmp_path / "leads.xlsx").tables["leads"].new == 1
    assert run(tmp_path / "leads.csv.gz").tables["leads"].new == 1
    assert set(Contact.objects.values_list("email", flat=True)) == {"xl@acme.example", "gz@acme.example"}


def test_a_windows_1252_csv_from_excel_keeps_its_accents(tmp_path, run):
    run(write_csv(tmp_path / "excel.csv", ["Email", "First Name"], [["jose@acme.example", "José"]], "cp1252"))
    assert Contact.objects.get().first_name == "José"


def test_a_file_that_is_not_a_workbook_is_refused(tmp_path, admin):
    (tmp_path / "fake.xlsx").write_text("not a zip")
    with pytest.raises(InvalidInput, match=r"not a readable \.xlsx"):
        SpreadsheetImport(tmp_path / "fake.xlsx", by=admin)


def test_an_unsupported_file_type_is_refused(tmp_path, admin):
    (tmp_path / "leads.json").write_text("[]")
    with pytest.raises(InvalidInput, match=r"Unsupported file type \.json"):
        SpreadsheetImport(tmp_path / "leads.json", by=admin)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("Email", "not-an-email", "valid email"),
        ("Created", "31/31/2024", "Not a date"),
        ("Budget", "a lot", "Not a number"),
        ("Source", "carrier pigeon", "Unknown value"),
        ("Seniority", "grand poobah", "Unknown value"),
        ("Country", "Atlantis", "Unknown country"),
        ("Owner", "nobody-here", "No active user"),
    ],
)
def test_each_kind_of_bad_value_is_reported_and_the_rest_imports(tmp_path, run, column, value, reason):
    header = ["Email", "Created", "Budget", "Source", "Seniority", "Country", "Owner"]
    good = ["ok@acme.example", "2024-01-02", "5000", "Web", "VP", "Germany", ""]
    bad = [value if h == column else v for h, v in zip(header, ["bad@acme.example", *good[1:]], strict=True)]
    report = run(write_csv(tmp_path / "mixed.csv", header, [good, bad]))
    assert (report.tables["leads"].new, report.tables["leads"].invalid) == (1, 1)
    [error] = report.errors
    assert (error.row, error.column) == (3, column) and reason in error.reason
    assert Lead.objects.get().contact.email == "ok@acme.example"


def test_a_row_with_two_bad_values_counts_once_and_names_both(tmp_path, run):
    report = run(write_csv(tmp_path / "bad.csv", ["Email", "Budget"], [["nope", "lots"]]))
    assert report.tables["leads"].invalid == 1
    assert [(e.row, e.column) for e in report.errors] == [(2, "Email"), (2, "Budget")]


def test_a_row_without_email_or_name_is_invalid(tmp_path, run):
    report = run(write_csv(tmp_path / "x.csv", ["Email", "Company"], [["", "Acme"]]))
    assert [(e.column, e.reason) for e in report.errors] == [("email", "A row needs an email or a name.")]


def test_the_errors_file_names_row_column_and_reason(tmp_path, admin):
    path = write_csv(tmp_path / "bad.csv", ["Email"], [["ok@acme.example"], ["nope"]])
    call_command("import", str(path), "--errors", str(tmp_path / "errors.csv"), stdout=StringIO())
    rows = list(csv.DictReader((tmp_path / "errors.csv").open()))
    assert rows == [{"table": "leads", "row": "3", "column": "Email", "reason": "Enter a valid email address."}]


def test_contacts_dedupe_by_email_whatever_its_case(tmp_path, run):
    report = run(write_csv(tmp_path / "dupes.csv", ["Email"], [["Ana@Northwind.example"], ["ana@northwind.EXAMPLE"]]))
    assert (report.tables["leads"].new, report.tables["leads"].duplicate) == (1, 1)
    assert list(Contact.objects.values_list("email", flat=True)) == ["ana@northwind.example"]


def test_accounts_dedupe_by_normalised_domain_then_exact_name(tmp_path, run):
    northwind = AccountFactory(name="Northwind Traders", domain="northwind.example")
    quartz = AccountFactory(name="Quartz", domain=None)
    run(write_csv(tmp_path / "people.csv", ["Email", "Company", "Website"], [
        ["a@gmail.com", "Someone Else", "HTTPS://WWW.Northwind.example/about"],
        ["b@gmail.com", "Quartz", ""],
        ["c@gmail.com", "quartz", "quartz.example"],
        ["d@gmail.com", "Quartz Holdings", ""],
    ]))  # fmt: skip
    assert northwind.contacts.count() == 1
    assert quartz.contacts.count() == 2
    quartz.refresh_from_db()
    assert quartz.domain == "quartz.example"  # learnt from the row that named it
    assert Account.objects.filter(name="Quartz Holdings").exists()
    assert Account.objects.count() == 3


def test_a_work_email_finds_the_account_of_its_domain(tmp_path, run):
    acme = AccountFactory(name="Acme", domain="acme.example")
    run(write_csv(tmp_path / "a.csv", ["Email"], [["zoe@acme.example"]]))
    assert Contact.objects.get().account == acme


def test_leads_dedupe_by_external_id(tmp_path, run):
    header = ["Record ID", "Email", "First Name"]
    run(write_csv(tmp_path / "v1.csv", header, [["7", "old@acme.example", "Al"]]))
    report = run(write_csv(tmp_path / "v2.csv", header, [["7", "new@acme.example", "Al"]]))
    assert report.tables["leads"].duplicate == 1
    assert Lead.objects.count() == 1


def test_re_running_a_file_changes_nothing_and_says_so(tmp_path, run):
    path = write_csv(tmp_path / "a.csv", ["Record ID", "Email", "First Name", "Company"], [
        ["1", "a@acme.example", "A", "Acme"], ["2", "b@acme.example", "B", "Acme"],
    ])  # fmt: skip
    run(path)
    before = (Lead.objects.count(), Contact.objects.count(), Account.objects.count(), StageChange.objects.count())
    again = run(path)
    assert again.changed_nothing and again.tables["leads"].duplicate == 2
    assert "Nothing changed" in again.summary()
    assert (Lead.objects.count(), Contact.objects.count(), Account.objects.count(), StageChange.objects.count()) == (
        before
    )


def test_a_changed_row_updates_the_lead_it_names(tmp_path, run):
    header = ["Record ID", "Email", "First Name", "Original Source"]
    run(write_csv(tmp_path / "v1.csv", header, [["1", "a@acme.example", "A", "Organic Search"]]))
    report = run(write_csv(tmp_path / "v2.csv", header, [["1", "a@acme.example", "Anna", "Referrals"]]))
    assert report.tables["leads"].updated == 1
    lead = Lead.objects.get(external_id="1")
    assert (lead.contact.first_name, lead.source) == ("Anna", "referral_partner")


def test_the_dry_run_counts_new_updated_duplicate_and_invalid_but_writes_nothing(tmp_path, run):
    run(write_csv(tmp_path / "seed.csv", ["Email", "First Name"], [["known@acme.example", "K"]]))
    path = write_csv(tmp_path / "a.csv", ["Email", "First Name"], [
        ["a@acme.example", "A"], ["bad", "B"], ["a@acme.example", "A"], ["known@acme.example", "Kay"],
    ])  # fmt: skip
    report = run(path, dry_run=True)
    counts = report.tables["leads"]
    assert (counts.new, counts.updated, counts.duplicate, counts.invalid) == (1, 1, 1, 1)
    assert list(Contact.objects.values_list("email", "first_name")) == [("known@acme.example", "K")]
    assert "Dry run: nothing was written." in report.summary()


def test_the_command_dry_run_writes_nothing(tmp_path, admin):
    path = write_csv(tmp_path / "a.csv", ["Email"], [["a@acme.example"]])
    out = StringIO()
    call_command("import", str(path), "--dry-run", stdout=out, stderr=StringIO())
    assert "1 new" in out.getvalue() and not Lead.objects.exists()


def test_a_mapping_file_overrides_detection(tmp_path, admin):
    path = write_csv(tmp_path / "odd.csv", ["Mail", "Who"], [["m@acme.example", "Mo"]])
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Mail": "email", "Who": "first_name"}))
    call_command("import", str(path), "--mapping", str(mapping), stdout=StringIO())
    assert Lead.objects.get().contact.first_name == "Mo"


def test_a_mapping_to_an_unknown_field_is_refused(tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Mail": "e_mail"}))
    path = write_csv(tmp_path / "odd.csv", ["Mail"], [["m@acme.example"]])
    with pytest.raises(CommandError, match="Unknown fields e_mail"):
        call_command("import", str(path), "--mapping", str(mapping))


def test_a_mapping_that_maps_a_field_twice_is_refused(tmp_path, admin):
    path = write_csv(tmp_path / "odd.csv", ["A", "B"], [["a@acme.example", "b@acme.example"]])
    with pytest.raises(InvalidInput, match="Several columns map to email"):
        SpreadsheetImport(path, by=admin, mapping={"A": "email", "B": "email"})


def test_a_file_with_nothing_that_identifies_a_lead_is_refused(tmp_path, admin):
    with pytest.raises(InvalidInput, match="nothing identifies a lead"):
        SpreadsheetImport(write_csv(tmp_path / "x.csv", ["Colour"], [["blue"]]), by=admin)


def test_the_command_imports_as_the_named_user(tmp_path, rep):
    call_command("import", str(write_csv(tmp_path / "a.csv", ["Email"], [["a@acme.example"]])), "--as", "sam",
                 stdout=StringIO())  # fmt: skip
    lead = Lead.objects.get()
    assert (lead.owner, lead.stage_changes.get().by) == (rep, rep)
