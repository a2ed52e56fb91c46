"""Where people arrive (API, web form, import): an exact email reuses the contact, a likely match by another key
creates the person and flags the pair."""

import csv

import pytest

from leadflow.accounts.models import Contact, DuplicatePair, PairStatus
from leadflow.accounts.services import create_contact, update_contact
from leadflow.duplicates.services import mark_not_duplicate, scan_for_duplicates
from leadflow.imports.spreadsheet import SpreadsheetImport
from leadflow.leads.services import create_lead

from ..clients import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def jane():
    return create_contact(first_name="Jane", last_name="Doe", email="jane.doe@gmail.com", phone="(415) 555-0132")


def pair_of(a, b):
    first, second = sorted((a.pk, b.pk))
    return DuplicatePair.objects.get(first_id=first, second_id=second)


def test_a_gmail_variant_through_the_api_is_a_new_contact_flagged_as_the_same_mailbox(api_as, rep, jane):
    response = api_as(rep).post("/contacts", {"first_name": "Jane", "email": "JaneDoe+crm@googlemail.com"})
    assert response.status_code == 201
    pair = pair_of(jane, Contact.objects.get(pk=response.json()["id"]))
    assert (pair.status, pair.found_by, pair.evidence["keys"]) == (PairStatus.OPEN, "capture", ["mailbox"])
    assert pair.score >= 95


def test_a_lead_through_the_api_with_a_known_phone_in_another_format_flags_the_pair(api_as, rep, jane):
    response = api_as(rep).post("/leads", {"email": "jd@work.example", "first_name": "J.", "last_name": "Doe",
                                           "phone": "+1 415-555-0132"})  # fmt: skip
    assert response.status_code == 201
    newcomer = Contact.objects.get(pk=response.json()["contact_id"])
    assert newcomer != jane
    assert pair_of(jane, newcomer).evidence["keys"] == ["phone"]


def test_the_new_lead_form_flags_the_same_name_at_the_same_company(rep):
    ana = create_contact(first_name="Ana", last_name="Lima", email="ana@northwind.example")
    response = signed_in(rep).post("/leads/new/", {"email": "a.lima@northwind.example", "first_name": "Ána",
                                                   "last_name": "LIMA", "source": "other"})  # fmt: skip
    assert response.status_code == 302
    newcomer = Contact.objects.get(email="a.lima@northwind.example")
    assert pair_of(ana, newcomer).evidence["keys"] == ["name_domain"]


def test_an_import_flags_a_known_phone_and_reuses_an_exact_email(tmp_path, admin, jane):
    path = tmp_path / "leads.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First Name", "Last Name", "Email", "Phone"])
        writer.writerow(["Janet", "Doe", "janet@elsewhere.example", "415 555 0132"])
        writer.writerow(["Jane", "Doe", "JANE.DOE@gmail.com", ""])
    SpreadsheetImport(path, by=admin).run()
    assert Contact.objects.filter(email="jane.doe@gmail.com").count() == 1  # the exact email reused the contact
    janet = Contact.objects.get(email="janet@elsewhere.example")
    assert pair_of(jane, janet).evidence["keys"] == ["phone"]
    assert DuplicatePair.objects.count() == 1


def test_an_exact_email_reuses_the_contact_and_flags_nothing(rep, jane):
    lead = create_lead(by=rep, email=" Jane.Doe@GMAIL.com ", first_name="Jane")
    assert lead.contact == jane
    assert not DuplicatePair.objects.exists()


def test_people_who_share_nothing_are_not_flagged(jane):
    create_contact(first_name="Jane", last_name="Doe", email="jane@acme.example", phone="+44 20 7946 0018")
    assert not DuplicatePair.objects.exists()


def test_a_change_of_phone_that_now_matches_flags_the_pair(jane):
    other = create_contact(first_name="Jay", last_name="Dee", email="jay@acme.example")
    update_contact(other, phone="415-555-0132")
    assert pair_of(jane, other).evidence["keys"] == ["phone"]


def test_not_a_duplicate_is_remembered_through_later_captures_and_scans(admin, jane):
    other = create_contact(first_name="Jane", last_name="Doe", email="janedoe@googlemail.com")
    mark_not_duplicate(pair_of(jane, other), by=admin)
    update_contact(other, phone="415 555 0132")  # now they share two keys
    scan_for_duplicates()
    pair = pair_of(jane, other)
    assert (pair.status, pair.decided_by) == (PairStatus.NOT_DUPLICATE, admin)
    assert DuplicatePair.objects.count() == 1
