"""`leadflow duplicates scan | list | merge | not-duplicate`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leadflow.accounts.models import Contact, DuplicatePair, PairStatus
from leadflow.accounts.services import create_account, create_contact
from leadflow.duplicates.models import ContactMerge

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("duplicates", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def twins(admin):
    acme = create_account(name="Acme", domain="acme.example")
    jon = create_contact(first_name="Jon", last_name="Smith", email="jon@acme.example", account=acme)
    john = create_contact(first_name="John", last_name="Smith", email="john@acme.example", account=acme,
                          job_title="CTO")  # fmt: skip
    return jon, john


def test_scan_then_list_shows_the_pair_with_names_emails_and_evidence(twins):
    assert "2 contacts, 1 pairs of names compared" in run("scan")
    listing = run("list")
    pair = DuplicatePair.objects.get()
    assert f"{pair.pk}" in listing
    assert "Jon Smith <jon@acme.example>" in listing and "John Smith <john@acme.example>" in listing
    assert "names 95% alike" in listing


def test_merge_keeps_the_values_asked_for(twins, admin):
    jon, john = twins
    run("scan")
    pair = DuplicatePair.objects.get()
    out = run("merge", str(pair.pk), "--survivor", str(jon.pk), "--keep", "job_title=merged", "--as", "admin")
    assert f"into contact {jon.pk}" in out
    jon.refresh_from_db()
    assert jon.job_title == "CTO" and not Contact.objects.filter(pk=john.pk).exists()
    assert ContactMerge.objects.get().by == admin


def test_merge_refuses_a_user_who_is_not_an_admin(twins, manager):
    run("scan")
    with pytest.raises(CommandError, match="No active admin"):
        run("merge", str(DuplicatePair.objects.get().pk), "--as", "maria")


def test_merge_refuses_an_unknown_field(twins, admin):
    run("scan")
    with pytest.raises(CommandError, match="shoe_size"):
        run("merge", str(DuplicatePair.objects.get().pk), "--keep", "shoe_size=merged")


def test_not_duplicate_and_bulk_merge(admin):
    create_contact(first_name="Jane", email="jane.doe@gmail.com")
    create_contact(first_name="Jane", email="janedoe@gmail.com")
    create_contact(first_name="Bo", last_name="Ek", email="bo@acme.example")
    create_contact(first_name="Bo", last_name="Ek", email="b.ek@acme.example")
    gmail = DuplicatePair.objects.order_by("pk").first()  # the Gmail pair, flagged first
    run("not-duplicate", str(gmail.pk))
    assert DuplicatePair.objects.get(pk=gmail.pk).status == PairStatus.NOT_DUPLICATE
    assert "Merged 1 exact-key pairs" in run("merge", "--exact")
    assert Contact.objects.count() == 3
