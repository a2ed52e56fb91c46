"""Chat scripts and conversations through the API, in the OpenAPI schema: bad input is a 4xx naming the field."""

import pytest

from leadflow.chat.models import ChatScript
from leadflow.chat.services import answer, start_conversation

from ..chat.conftest import open_hours, site, soon  # noqa: F401  (fixtures)
from ..factories import ContactFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db
STEPS = [
    {"id": "q", "type": "ask", "text": "Budget?", "answer": "number", "field": "budget_amount"},
    {"id": "b", "type": "branch", "else": "low", "rules": [{"answer": "q", "test": "at_least", "value": "1000",
                                                             "goto": "high"}]},
    {"id": "high", "type": "end", "text": "Great", "outcome": "handoff"},
    {"id": "low", "type": "end", "text": "Thanks"},
]  # fmt: skip


def test_marketing_builds_and_edits_a_script_through_the_api(api_as, marketer, site):  # noqa: F811
    api = api_as(marketer)
    created = api.post("/chat/scripts", {"name": "Budget check", "steps": STEPS, "pages": ["/pricing"],
                                         "site_id": site.pk})  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["pages"] == ["/pricing"] and body["steps"][1]["rules"][0]["goto"] == "high"
    assert body["warnings"] == [] and body["started_count"] == 0
    patched = api.patch(
        f"/chat/scripts/{body['id']}", {"title": "Talk budgets", "steps": [*STEPS, {**STEPS[3], "id": "x"}]}
    )
    assert patched.status_code == 200 and patched.json()["warnings"] == ["No path reaches step x."]
    listed = api.get("/chat/scripts").json()
    assert {item["name"] for item in listed["items"]} == {"Budget check", "Qualify visitors (BANT)"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "steps": [{"id": "a", "type": "say", "text": "hi", "next": "b"}]}, "steps[0].next"),
        ({"name": "X", "steps": "all of them"}, "steps"),
        ({"name": "X", "steps": [1, 2]}, "steps[0]"),
        ({"name": "X", "steps": [{"id": "e", "type": "end", "text": "x", "nurture": "yes"}]}, "steps[0].nurture"),
        ({"name": "X", "pages": ["pricing"]}, "pages"),
        ({"name": "X", "site_id": 999999}, "site_id"),
        ({"name": ""}, "name"),
        ({"name": "X", "lead_source": "carrier pigeon"}, "lead_source"),
    ],
)
def test_a_bad_script_is_a_422_naming_the_field(api_as, marketer, body, field):
    response = api_as(marketer).post("/chat/scripts", body)
    assert response.status_code == 422, response.json()
    assert any(name.startswith(field) or field in name for name in response.json()["errors"]), response.json()
    assert ChatScript.objects.count() == 1  # only the default


def test_a_script_name_in_use_is_a_409(api_as, marketer):
    assert api_as(marketer).post("/chat/scripts", {"name": "Qualify visitors (BANT)"}).status_code == 409


def test_sales_may_not_read_or_change_scripts(api_as, rep):
    api = api_as(rep)
    assert api.get("/chat/scripts").status_code == 403
    assert api.post("/chat/scripts", {"name": "Mine"}).status_code == 403


def test_a_transcript_is_read_by_who_may_see_the_lead(api_as, rep, west, site):  # noqa: F811
    script = ChatScript.objects.get()
    LeadFactory(contact=ContactFactory(email="ann@acme.example"), owner=rep, team=rep.team)
    conversation = answer(answer(start_conversation(site, script), "Reporting"), "ann@acme.example")
    mine = api_as(rep).get(f"/chat/conversations/{conversation.pk}")
    assert mine.status_code == 200
    body = mine.json()
    assert body["fields"] == {"need": "Reporting", "email": "ann@acme.example"}
    assert [m["author"] for m in body["messages"][:3]] == ["bot", "bot", "visitor"]
    assert api_as(rep).get("/chat/conversations", {"lead_id": conversation.lead_id}).json()["total"] == 1
    stranger = UserFactory(username="steve", role="sales", team=west)
    assert api_as(stranger).get(f"/chat/conversations/{conversation.pk}").status_code == 404
    assert api_as(stranger).get("/chat/conversations").json()["total"] == 0


def test_conversation_ids_and_filters_are_checked(api_as, marketer):
    api = api_as(marketer)
    assert api.get("/chat/conversations/0").status_code == 422
    assert api.get("/chat/conversations", {"lead_id": "x"}).status_code == 422
    assert api.get("/chat/conversations/999999").status_code == 404


def test_a_misspelt_key_is_refused_not_dropped(api_as, marketer):
    response = api_as(marketer).post("/chat/scripts", {"name": "Typo", "titel": "Hi"})
    assert response.status_code == 422 and "titel" in str(response.json()["errors"])
    assert not ChatScript.objects.filter(name="Typo").exists()
