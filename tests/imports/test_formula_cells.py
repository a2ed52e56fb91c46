"""CSV exports are spreadsheet-safe (no cell runs as a formula) and the importer reads them back unchanged."""

import csv
import io

import pytest

from leadflow.accounts.models import Account, Contact
from leadflow.imports.cells import from_cell, to_cell
from leadflow.imports.services import import_path
from leadflow.leads.models import Lead

from ..factories import AccountFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db

NASTY = {
    "first_name": '=HYPERLINK("http://evil.example","x")',
    "last_name": "-2+3",
    "phone": "+1 555 0100",
    "job_title": "@SUM(A1:A2)",
}


@pytest.mark.parametrize("text", ["=1+1", "+1 555 0100", "-5", "@cmd", "\tTab", "\rReturn"])
def test_a_cell_that_starts_like_a_formula_gets_an_apostrophe_and_loses_it_on_import(text):
    assert to_cell(text) == "'" + text
    assert from_cell(to_cell(text)) == text


@pytest.mark.parametrize("value", ["Ada", "'quoted already", "", 42, None])
def test_other_cells_are_left_alone(value):
    assert to_cell(value) == value
    if isinstance(value, str):
        assert from_cell(value) == value


def test_an_exported_contact_file_has_no_live_formulas_and_reimports_unchanged(api_as, rep, tmp_path):
    LeadFactory(owner=rep, team=rep.team, contact=ContactFactory(account=AccountFactory(name="=cmd|' /C calc'!A0"),
                                                                 email="ada@example.com", **NASTY))  # fmt: skip
    text = b"".join(api_as(rep).get("/contacts/export.csv").streaming_content).decode()
    for row in csv.reader(io.StringIO(text)):
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
    before = {field: getattr(Contact.objects.get(), field) for field in NASTY}

    Lead.objects.all().delete()
    Contact.objects.all().delete()
    Account.objects.all().delete()
    path = tmp_path / "contacts.csv"
    path.write_text(text)
    report = import_path(path, preset="generic", by=rep)

    assert not report.errors
    contact = Contact.objects.get()
    assert {field: getattr(contact, field) for field in NASTY} == before
    assert contact.account.name == "=cmd|' /C calc'!A0"
