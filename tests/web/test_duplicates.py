"""The duplicates pages: the pairs best first, the merge screen side by side, "not a duplicate"."""

import pytest

from leadflow.accounts.models import Contact, DuplicatePair, PairStatus
from leadflow.accounts.services import create_contact
from leadflow.duplicates.models import DuplicateScanJob
from leadflow.leads.services import create_lead

from ..clients import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(rep):
    create_lead(by=rep, email="jane.doe@gmail.com", first_name="Jane", last_name="Doe", job_title="CFO")
    create_contact(first_name="Janet", last_name="Doe", email="janedoe+x@gmail.com", phone="(415) 555-0132")
    return DuplicatePair.objects.get()


def test_the_list_shows_pairs_best_first_with_the_evidence(manager, pair):
    create_contact(first_name="Bo", email="bo@gmail.com", phone="212 555 0100")
    create_contact(first_name="Cy", email="cy@one.example", phone="212-555-0100")  # a phone alone scores lower
    page = signed_in(manager).get("/duplicates/").content.decode()
    listing = page[page.index("<main") :]  # the head's random CSRF token may hold "Cy" by chance
    assert listing.index("Janet Doe") < listing.index("Cy")
    assert "same Gmail mailbox" in page and "same phone" in page
    assert "Merge 1 exact-key pair" in page


def test_the_pages_do_not_exist_for_reps(rep, pair):
    assert signed_in(rep).get("/duplicates/").status_code == 404
    assert signed_in(rep).get(f"/duplicates/{pair.pk}/").status_code == 404


def test_the_merge_screen_shows_both_sides_with_a_choice_per_field(admin, pair):
    page = signed_in(admin).get(f"/duplicates/{pair.pk}/").content.decode()
    assert 'name="keep_job_title" value="first" checked' in page  # Jane's job title; Janet has none
    assert 'name="keep_phone" value="second" checked' in page  # Jane has no phone: Janet's fills it
    assert "(415) 555-0132" in page and "CFO" in page


def test_merging_from_the_screen_keeps_the_choices_and_lands_on_the_timeline(admin, pair):
    client = signed_in(admin)
    response = client.post(f"/duplicates/{pair.pk}/", {"survivor": "first", "keep_first_name": "second",
                                                        "keep_email": "first", "keep_phone": "second"})  # fmt: skip
    assert response.status_code == 302
    survivor = Contact.objects.get()
    assert (survivor.first_name, survivor.email, survivor.phone) == ("Janet", "jane.doe@gmail.com", "(415) 555-0132")
    lead_page = client.get(f"/leads/{survivor.leads.get().pk}/").content.decode()
    assert "Merged Janet Doe &lt;janedoe+x@gmail.com&gt;" in lead_page
    assert "first name “Janet”" in lead_page
    assert "Merged Janet Doe" in client.get(response.url).content.decode()


def test_a_bad_choice_is_refused_and_nothing_merges(admin, pair):
    response = signed_in(admin).post(f"/duplicates/{pair.pk}/", {"survivor": "first", "keep_email": "both"})
    assert response.status_code == 422
    assert "Choose one of the two values of email." in response.content.decode()
    assert Contact.objects.count() == 2


def test_not_a_duplicate_takes_the_pair_off_the_list(admin, pair):
    client = signed_in(admin)
    client.post(f"/duplicates/{pair.pk}/not-duplicate/")
    assert DuplicatePair.objects.get().status == PairStatus.NOT_DUPLICATE
    assert "No likely duplicates to review" in client.get("/duplicates/").content.decode()
    assert "Janet Doe" in client.get("/duplicates/?status=not_duplicate").content.decode()


def test_the_scan_button_queues_a_scan_the_page_then_reports(admin, pair):
    client = signed_in(admin)
    client.post("/duplicates/scan/")
    job = DuplicateScanJob.objects.get()
    assert job.requested_by == admin
    assert "Last scan: queued" in client.get("/duplicates/").content.decode()


def test_the_bulk_button_merges_the_exact_key_pairs(admin, pair):
    response = signed_in(admin).post("/duplicates/merge-exact/", follow=True)
    assert "Merged 1 exact-key pair." in response.content.decode()
    assert Contact.objects.count() == 1
