"""The public chat endpoints: the site key, the page's origin, the signed conversation token, the rate and size
limits, and answers refused with a message naming the problem."""

import json

import pytest

from leadflow.chat.models import ChatScript, Conversation
from leadflow.chat.services import conversation_token, start_conversation
from leadflow.leads.models import Lead
from leadflow.tracking.models import Visitor
from leadflow.tracking.services import collect

from .conftest import ORIGIN

pytestmark = pytest.mark.django_db


def post(client, site, path, body, **headers):
    return client.post(f"/chat/{site.key}/{path}", json.dumps(body), content_type="application/json", **headers)


def test_the_widget_script_is_served_to_any_page(client):
    response = client.get("/chat/widget.js")
    assert response.status_code == 200 and b"leadflowChat" in response.content
    assert response["Content-Type"].startswith("text/javascript")


def test_a_page_learns_whether_it_offers_a_chat(public, site, marketer):
    response = public.get(f"/chat/{site.key}/offer", {"page": f"{ORIGIN}/pricing"})
    assert response.status_code == 200 and response.json() == {"title": "Questions? Chat with us"}
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    ChatScript.objects.update(is_active=False)
    assert public.get(f"/chat/{site.key}/offer", {"page": f"{ORIGIN}/"}).status_code == 404


def test_a_visitor_starts_and_answers_a_conversation(public, site):
    started = post(public, site, "start", {"page": f"{ORIGIN}/"})
    assert started.status_code == 201 and started["Access-Control-Allow-Origin"] == ORIGIN
    body = started.json()
    assert body["prompt"] == {"kind": "text", "options": []} and body["messages"][-1]["author"] == "bot"
    answered = post(public, site, "answer", {"token": body["token"], "answer": "Faster follow-up"}).json()
    assert [m["text"] for m in answered["messages"]][-2:] == ["Faster follow-up", answered["messages"][-1]["text"]]
    assert answered["prompt"]["kind"] == "email"


def test_a_bad_email_is_a_422_naming_the_answer_and_the_conversation_waits(public, site, script):
    conversation = start_conversation(site, script)
    token = conversation_token(conversation)
    post(public, site, "answer", {"token": token, "answer": "Reporting"})
    refused = post(public, site, "answer", {"token": token, "answer": "not-an-email"})
    assert refused.status_code == 422 and "email" in refused.json()["errors"]["answer"][0]
    assert Conversation.objects.get().current_step == "email" and not Lead.objects.exists()


def test_resuming_returns_the_transcript_so_far(public, site, script):
    conversation = start_conversation(site, script)
    token = conversation_token(conversation)
    post(public, site, "answer", {"token": token, "answer": "Reporting"})
    resumed = post(public, site, "start", {"token": token, "page": f"{ORIGIN}/other", "resume_only": True})
    assert resumed.status_code == 200 and "Reporting" in [m["text"] for m in resumed.json()["messages"]]
    assert Conversation.objects.count() == 1
    gone = post(public, site, "start", {"token": "forged:token", "resume_only": True})
    assert gone.status_code == 404 and "token" in gone.json()["errors"]


def test_a_token_of_another_site_or_a_forged_one_reads_nothing(public, site, script, marketer):
    other = site.__class__.objects.create(name="Other", allowed_origins=ORIGIN)
    theirs = conversation_token(start_conversation(other, script))
    for token in (theirs, theirs[:-2] + "xx", "", 7):
        refused = post(public, site, "answer", {"token": token, "answer": "hello"})
        assert refused.status_code == 404
    assert not any("hello" in m.text for c in Conversation.objects.all() for m in c.messages.all())


def test_a_page_on_another_origin_is_refused_without_cors(client, site):
    stranger = post(client, site, "start", {"page": "https://evil.example/"}, HTTP_ORIGIN="https://evil.example")
    assert stranger.status_code == 403 and "origin" in stranger.json()["errors"]
    assert "Access-Control-Allow-Origin" not in stranger
    assert client.get(f"/chat/{site.key}/offer", HTTP_ORIGIN="https://evil.example").status_code == 403
    assert post(client, site, "start", {}).status_code == 403  # no origin at all
    assert not Conversation.objects.exists()


def test_the_preflight_of_an_allowed_origin_is_answered(public, site):
    response = public.options(f"/chat/{site.key}/start")
    assert response.status_code == 204 and response["Access-Control-Allow-Origin"] == ORIGIN


def test_an_unknown_site_key_is_a_404(public, site):
    assert post(public, site.__class__(key="nope"), "start", {}).status_code == 404


def test_too_many_requests_from_one_address_are_refused(public, site, settings):
    settings.LEADFLOW_CHAT_RATE_PER_MINUTE = 2
    assert post(public, site, "start", {"page": "/"}).status_code == 201
    assert post(public, site, "start", {"page": "/"}).status_code == 201
    refused = post(public, site, "start", {"page": "/"})
    assert refused.status_code == 429 and refused["Retry-After"] == "60"


def test_oversized_and_malformed_bodies_are_refused(public, site):
    big = post(public, site, "answer", {"token": "x", "answer": "a" * 9000})
    assert big.status_code == 413
    broken = public.post(f"/chat/{site.key}/start", "{not json", content_type="application/json")
    assert broken.status_code == 400 and "body" in broken.json()["errors"]
    listed = public.post(f"/chat/{site.key}/start", "[1]", content_type="application/json")
    assert listed.status_code == 400
    wrong_type = post(public, site, "answer", {"token": "x", "answer": ["a"]})
    assert wrong_type.status_code == 404  # no such conversation before the answer is read


def test_a_non_text_answer_is_a_422(public, site, script):
    token = conversation_token(start_conversation(site, script))
    refused = post(public, site, "answer", {"token": token, "answer": {"a": 1}})
    assert refused.status_code == 422 and refused.json()["errors"]["answer"] == ["Give the answer as text."]


def test_the_tracking_visitor_joins_the_lead_the_chat_finds(public, site, script):
    collect(site, {"v": "cookie-1", "e": [{"id": "h1", "k": "page_view", "u": f"{ORIGIN}/pricing"}]})
    started = post(public, site, "start", {"page": f"{ORIGIN}/pricing", "visitor": "cookie-1"}).json()
    post(public, site, "answer", {"token": started["token"], "answer": "Need"})
    post(public, site, "answer", {"token": started["token"], "answer": "ann@acme.example"})
    visitor = Visitor.objects.get(uid="cookie-1")
    assert visitor.lead == Lead.objects.get(contact__email="ann@acme.example") and visitor.identified_by == "chat"
