"""Who sees what: the visibility matrix, enforced the same way for every endpoint. A hidden row is a 404."""

import pytest

from leadflow.leads.models import Lead
from leadflow.pipeline.models import Activity, Opportunity
from leadflow.pipeline.services import convert_lead, log_activity

from ..factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(rep, teammate, other_rep, east, west):
    """Leads across owners and teams, one deal of the rep's, and an activity on it."""
    mine = LeadFactory(owner=rep, team=east, company_name="Mine Inc")
    deal, _ = convert_lead(LeadFactory(owner=rep, team=east, company_name="Deal Co"), by=rep)
    activity = log_activity(by=rep, kind="call", subject="Call", lead=mine, is_done=True)
    return {
        "mine": mine,
        "teammates": LeadFactory(owner=teammate, team=east),
        "east_queue": LeadFactory(owner=None, team=east),
        "west_rep": LeadFactory(owner=other_rep, team=west),
        "west_queue": LeadFactory(owner=None, team=west),
        "deal": deal,
        "activity": activity,
    }


# (user fixture, leads it must see); every other lead in the book must stay hidden.
MATRIX = [
    ("rep", {"mine", "east_queue", "deal"}),
    ("teammate", {"teammates", "east_queue"}),
    ("other_rep", {"west_rep", "west_queue"}),
    ("manager", {"mine", "teammates", "east_queue", "deal"}),
    ("marketer", {"mine", "teammates", "east_queue", "west_rep", "west_queue", "deal"}),
    ("admin", {"mine", "teammates", "east_queue", "west_rep", "west_queue", "deal"}),
]


def _lead_ids(book, names):
    return {book[name].lead_id if name == "deal" else book[name].pk for name in names}


@pytest.mark.parametrize(("who", "visible"), MATRIX)
def test_the_lead_list_holds_exactly_what_the_role_may_see(request, api_as, book, who, visible):
    body = api_as(request.getfixturevalue(who)).get("/leads?limit=200").json()
    assert {item["id"] for item in body["items"]} == _lead_ids(book, visible)
    assert body["total"] == len(visible)


@pytest.mark.parametrize(("who", "visible"), MATRIX)
def test_reading_a_hidden_lead_is_a_404(request, api_as, book, who, visible):
    api = api_as(request.getfixturevalue(who))
    for name in ("mine", "teammates", "east_queue", "west_rep", "west_queue"):
        expected = 200 if name in visible else 404
        assert api.get(f"/leads/{book[name].pk}").status_code == expected, name


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"need": "hijacked"}),
        ("post", "/transition", {"to": "prospect"}),
        ("post", "/convert", {}),
        ("get", "/stage-changes", None),
        ("delete", "", None),
    ],
)
def test_a_rep_can_neither_read_nor_change_another_reps_lead(api_as, other_rep, book, method, suffix, payload):
    lead = book["mine"]
    api = api_as(other_rep)
    call = getattr(api, method)
    response = call(f"/leads/{lead.pk}{suffix}", payload) if payload is not None else call(f"/leads/{lead.pk}{suffix}")
    assert response.status_code == 404
    lead.refresh_from_db()
    assert (lead.lifecycle_stage, lead.need) == ("lead", "")
    assert not Opportunity.objects.filter(lead=lead).exists()


def test_a_rep_can_claim_a_lead_from_their_team_queue(api_as, rep, book):
    response = api_as(rep).patch(f"/leads/{book['east_queue'].pk}", {"owner_id": rep.pk})
    assert response.status_code == 200
    assert response.json()["owner_id"] == rep.pk


def test_another_teams_queue_is_hidden_from_a_rep(api_as, rep, book):
    assert api_as(rep).patch(f"/leads/{book['west_queue'].pk}", {"owner_id": rep.pk}).status_code == 404


@pytest.mark.parametrize(("who", "sees"), [("rep", True), ("manager", True), ("other_rep", False), ("admin", True)])
def test_deals_follow_the_same_matrix(request, api_as, book, who, sees):
    response = api_as(request.getfixturevalue(who)).get(f"/opportunities/{book['deal'].pk}")
    assert response.status_code == (200 if sees else 404)


def test_marketing_sees_deals_but_not_their_amounts(api_as, marketer, book):
    api = api_as(marketer)
    assert api.get(f"/opportunities/{book['deal'].pk}").json()["amount"] is None
    assert all(item["amount"] is None for item in api.get("/opportunities").json()["items"])


def test_marketing_cannot_change_deals_or_convert(api_as, marketer, book):
    api = api_as(marketer)
    deal = book["deal"]
    assert api.patch(f"/opportunities/{deal.pk}", {"amount": "1"}).status_code == 403
    assert api.post(f"/opportunities/{deal.pk}/close", {"won": True}).status_code == 403
    assert api.post(f"/leads/{book['east_queue'].pk}/convert", {}).status_code == 403
    deal.refresh_from_db()
    assert not deal.is_closed


def test_activities_of_hidden_leads_are_hidden(api_as, rep, other_rep, book):
    assert api_as(rep).get(f"/activities/{book['activity'].pk}").status_code == 200
    assert api_as(other_rep).get(f"/activities/{book['activity'].pk}").status_code == 404
    assert api_as(other_rep).get("/activities").json()["total"] == 0


def test_logging_an_activity_on_a_hidden_lead_is_refused(api_as, other_rep, book):
    response = api_as(other_rep).post("/activities", {"kind": "call", "subject": "Sneaky", "lead_id": book["mine"].pk})
    assert response.status_code == 422
    assert "lead_id" in response.json()["errors"]
    assert Activity.objects.count() == 1


def test_only_managers_and_admins_delete_leads(api_as, rep, manager, book):
    assert api_as(rep).delete(f"/leads/{book['mine'].pk}").status_code == 403
    assert api_as(manager).delete(f"/leads/{book['mine'].pk}").status_code == 204
    assert not Lead.objects.filter(pk=book["mine"].pk).exists()
