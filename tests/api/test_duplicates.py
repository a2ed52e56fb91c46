"""The duplicates API: pairs with both people, merge with field choice, "not a duplicate", bulk merge, scans."""

import pytest

from leadflow.accounts.models import Contact, DuplicatePair
from leadflow.accounts.services import create_contact
from leadflow.demo.world import add_starter_rules
from leadflow.leads.services import create_lead
from leadflow.scoring.models import LeadScore
from leadflow.scoring.services import rescore_leads

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    create_contact(first_name="Jane", last_name="Doe", email="jane.doe@gmail.com", job_title="CFO")
    create_contact(first_name="Janet", last_name="Doe", email="janedoe+x@gmail.com", phone="(415) 555-0132")
    return DuplicatePair.objects.get()


def test_the_list_shows_both_people_with_names_emails_score_and_evidence(api_as, manager, pair):
    body = api_as(manager).get("/duplicates").json()
    assert body["total"] == 1
    item = body["items"][0]
    assert (item["first"]["name"], item["first"]["email"]) == ("Jane Doe", "jane.doe@gmail.com")
    assert (item["second"]["name"], item["second"]["email"]) == ("Janet Doe", "janedoe+x@gmail.com")
    assert item["evidence"]["keys"] == ["mailbox"] and item["score"] == pair.score
    assert item["evidence_words"][0] == "same Gmail mailbox"


def test_reps_and_marketing_may_not_review_duplicates(api_as, rep, marketer, pair):
    for user in (rep, marketer):
        assert api_as(user).get("/duplicates").status_code == 403
        assert api_as(user).post(f"/duplicates/{pair.pk}/merge", {}).status_code == 403


def test_merging_through_the_api_keeps_the_values_chosen(api_as, admin, pair):
    response = api_as(admin).post(
        f"/duplicates/{pair.pk}/merge", {"survivor_id": pair.second_id, "keep": {"first_name": "merged"}}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["kept"]["first_name"] == {"value": "Jane", "from": "merged"}
    survivor = Contact.objects.get()
    assert (survivor.pk, survivor.first_name, survivor.job_title, survivor.phone) == (
        pair.second_id, "Jane", "CFO", "(415) 555-0132"
    )  # fmt: skip
    merges = api_as(admin).get(f"/contacts/{survivor.pk}/merges").json()
    assert [m["merged_name"] for m in merges] == ["Jane Doe"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"survivor_id": 999999}, "survivor_id"), ({"keep": {"shoe_size": "merged"}}, "keep.shoe_size"),
     ({"keep": {"email": "both"}}, "body")],
)  # fmt: skip
def test_a_bad_merge_request_names_the_field(api_as, admin, pair, payload, field):
    response = api_as(admin).post(f"/duplicates/{pair.pk}/merge", payload)
    assert response.status_code in (400, 422)
    assert field in response.json()["errors"] or field == "body"
    assert Contact.objects.count() == 2


def test_an_unknown_pair_is_a_404(api_as, admin):
    assert api_as(admin).get("/duplicates/12345").status_code == 404


def test_not_a_duplicate_keeps_the_pair_out_of_the_list(api_as, admin, pair):
    response = api_as(admin).post(f"/duplicates/{pair.pk}/not-duplicate")
    assert response.json()["status"] == "not_duplicate"
    assert api_as(admin).get("/duplicates").json()["total"] == 0
    assert api_as(admin).get("/duplicates", {"status": "not_duplicate"}).json()["total"] == 1
    assert api_as(admin).post(f"/duplicates/{pair.pk}/merge", {}).status_code == 409


def test_the_bulk_merge_and_the_scan_job(api_as, admin, pair):
    assert api_as(admin).post("/duplicates/merge-exact").json() == {"merged": 1, "refusals": []}
    scan = api_as(admin).post("/duplicates/scans")
    assert scan.status_code == 202 and scan.json()["status"] == "queued"
    assert api_as(admin).get(f"/duplicates/scans/{scan.json()['id']}").json()["id"] == scan.json()["id"]


def test_merging_two_scored_leads_through_the_lead_api_works(api_as, admin, rep):
    add_starter_rules(by=admin)
    first = create_lead(by=rep, email="a@one.example", first_name="A")
    second = create_lead(by=rep, email="b@two.example", first_name="B")
    rescore_leads([first.pk, second.pk])
    response = api_as(admin).post(f"/leads/{first.pk}/merge", {"duplicate_id": second.pk})
    assert response.status_code == 200, response.json()
    assert LeadScore.objects.filter(lead__in=[first, second]).count() == 2


@pytest.mark.parametrize("survivor_id", [0, None, 2**70, True])
def test_a_survivor_id_out_of_range_is_refused_or_defaulted(api_as, admin, pair, survivor_id):
    response = api_as(admin).post(f"/duplicates/{pair.pk}/merge", {"survivor_id": survivor_id})
    if survivor_id is None:
        assert response.status_code == 200 and response.json()["survivor_id"] == pair.first_id
    else:
        assert response.status_code == 422 and "survivor_id" in response.json()["errors"]


def test_merging_a_pair_marked_not_a_duplicate_is_a_conflict(api_as, admin, pair):
    api_as(admin).post(f"/duplicates/{pair.pk}/not-duplicate")
    response = api_as(admin).post(f"/duplicates/{pair.pk}/merge", {})
    assert response.status_code == 409 and "status" in response.json()["errors"]
