"""The duplicate scan: names compared within blocks only, flagged with score and evidence; a worker job."""

import pytest

from leadflow.accounts.models import DuplicatePair
from leadflow.accounts.services import create_account, create_contact
from leadflow.duplicates import services
from leadflow.duplicates.models import DuplicateScanJob
from leadflow.duplicates.selectors import evidence_in_words
from leadflow.duplicates.services import queue_scan, scan_for_duplicates
from leadflow.jobs.models import JobStatus
from leadflow.jobs.worker import work

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return create_account(name="Acme", domain="acme.example")


def test_close_names_at_one_company_are_flagged_with_how_close_they_are(acme):
    mateo = create_contact(first_name="Mateo", last_name="Smith", email="mateo@acme.example", account=acme)
    matteo = create_contact(first_name="Matteo", last_name="Smith", email="ms@acme.example", account=acme)
    assert not DuplicatePair.objects.exists()  # no key in common: only the scan sees them
    result = scan_for_duplicates()
    pair = DuplicatePair.objects.get()
    assert (pair.first, pair.second, pair.found_by) == (mateo, matteo, "scan")
    assert pair.evidence == {"keys": [], "name_closeness": 96, "same_domain": True}
    assert 80 <= pair.score < 90
    assert (result.contacts, result.flagged) == (2, 1)


def test_a_short_form_of_the_first_name_is_flagged_though_the_spelling_is_far(acme):
    robert = create_contact(first_name="Robert", last_name="Smith", email="robert@acme.example", account=acme)
    bob = create_contact(first_name="Bob", last_name="Smith", email="bob@acme.example", account=acme)
    create_contact(first_name="Bob", last_name="Jones", email="bj@acme.example", account=acme)  # another family
    create_contact(first_name="Ben", last_name="Smith", email="ben@acme.example", account=acme)  # another name
    scan_for_duplicates()
    pair = DuplicatePair.objects.get()
    assert (pair.first, pair.second) == (robert, bob)
    assert pair.evidence == {"keys": [], "name_closeness": 76, "same_domain": True, "short_form": True}
    assert 80 <= pair.score < 90  # as close as a one-letter typo
    assert "one first name in a long and a short form" in evidence_in_words(pair)


def test_the_same_names_at_different_companies_are_not_flagged(acme):
    other = create_account(name="Other", domain="other.example")
    create_contact(first_name="Jon", last_name="Smith", email="jon@acme.example", account=acme)
    create_contact(first_name="Jon", last_name="Smith", email="jon@other.example", account=other)
    assert scan_for_duplicates().flagged == 0


def test_contacts_in_no_common_block_are_never_compared(acme):
    other = create_account(name="Other", domain="other.example")
    create_contact(first_name="Ann", last_name="Lee", email="ann@acme.example", account=acme)
    create_contact(first_name="Bo", last_name="Ek", email="bo@acme.example", account=acme)
    create_contact(first_name="Cy", last_name="Ng", email="cy@other.example", account=other)
    assert scan_for_duplicates().compared == 1  # Ann and Bo share a domain; Cy shares nothing with them


def test_a_block_too_big_for_all_pairs_is_compared_in_windows_of_similar_names(acme, monkeypatch):
    monkeypatch.setattr(services, "MAX_BLOCK", 4)
    for n, last in enumerate(["Evens", "Ames", "Baker", "Cole", "Dunn", "Evans", "Fox", "Gray"]):  # Evens first
        create_contact(first_name="Pat", last_name=last, email=f"p{n}@acme.example", account=acme)
    result = scan_for_duplicates()
    assert result.compared < 8 * 7 // 2
    evans = DuplicatePair.objects.get()
    assert {evans.first.last_name, evans.second.last_name} == {"Evans", "Evens"}


def test_a_rescan_rescores_pairs_to_review(acme):
    create_contact(first_name="Jon", last_name="Smith", email="jon@acme.example", account=acme)
    create_contact(first_name="John", last_name="Smith", email="js@acme.example", account=acme)
    scan_for_duplicates()
    before = DuplicatePair.objects.get().score
    DuplicatePair.objects.update(score=1)  # as scored by an older rule
    assert scan_for_duplicates().updated == 1
    assert DuplicatePair.objects.get().score == before


def test_the_scan_runs_as_a_worker_job(acme, admin):
    create_contact(first_name="Jon", last_name="Smith", email="jon@acme.example", account=acme)
    create_contact(first_name="John", last_name="Smith", email="js@acme.example", account=acme)
    job = queue_scan(by=admin)
    assert queue_scan(by=admin) == job  # a waiting scan is not doubled
    work(once=True)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.message == "Contacts: 2; pairs of names compared: 1; newly flagged: 1; re-scored: 0."
    assert DuplicateScanJob.objects.count() == 1


def test_at_a_company_without_a_domain_the_last_names_initial_makes_the_block():
    nameless = create_account(name="Corner Shop", domain=None)
    create_contact(first_name="Jon", last_name="Smith", account=nameless)
    create_contact(first_name="John", last_name="Smith", account=nameless)
    create_contact(first_name="Jon", last_name="Smith")  # no company: nothing to block on
    result = scan_for_duplicates()
    assert (result.compared, result.flagged) == (1, 1)
