"""The nurture API: the same services as the pages, refused to sales, with errors that name the field."""

import pytest

from leadflow.nurture.models import Delivery, NurtureSettings, Segment, Sequence, Step, Suppression
from leadflow.nurture.services import add_step, enrol_leads, run_nurture, save_sequence, save_template

from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db

BODY = '<p>Hi {{ contact.first_name }}, see <a href="https://example.com/guide">the guide</a>.</p>'


@pytest.fixture
def template(marketer):
    return save_template(None, by=marketer, name="Welcome", subject="Hi {{ contact.first_name }}", body=BODY)


@pytest.fixture
def sequence(marketer, template):
    sequence = save_sequence(None, by=marketer, name="Welcome series")
    add_step(sequence, by=marketer, kind="email", template=template)
    return save_sequence(sequence, by=marketer, is_active=True)


def test_sales_may_neither_read_nor_write_nurture(api_as, rep, sequence):
    client = api_as(rep)
    assert client.get("/nurture/segments").status_code == 403
    assert client.get("/nurture/sequences").status_code == 403
    assert client.get(f"/nurture/sequences/{sequence.pk}").status_code == 403
    assert client.get("/nurture/suppressions").status_code == 403
    assert client.post("/nurture/templates", {"name": "x", "subject": "x", "body": "x"}).status_code == 403


def test_segments_are_created_previewed_changed_and_deleted(api_as, marketer):
    vp = LeadFactory(contact=ContactFactory(seniority="vp", first_name="Vera"))
    LeadFactory(contact=ContactFactory(seniority="manager"))
    client = api_as(marketer)
    created = client.post(
        "/nurture/segments",
        {"name": "VPs", "conditions": [{"field": "seniority", "op": "in", "value": ["vp"]}]},
    )
    assert created.status_code == 201
    segment_id = created.json()["id"]
    preview = client.get(f"/nurture/segments/{segment_id}/preview").json()
    assert preview["count"] == 1 and [lead["id"] for lead in preview["leads"]] == [vp.pk]
    assert preview["leads"][0]["name"] == str(vp.contact)
    changed = client.patch(f"/nurture/segments/{segment_id}", {"match": "any", "description": "Decision makers"})
    assert changed.json()["match"] == "any" and changed.json()["conditions"][0]["value"] == ["vp"]
    page = client.get("/nurture/segments").json()
    assert page["total"] == 1 and page["items"][0]["name"] == "VPs"
    assert client.delete(f"/nurture/segments/{segment_id}").status_code == 204
    assert not Segment.objects.exists()


def test_a_bad_condition_is_refused_naming_it(api_as, marketer):
    response = api_as(marketer).post(
        "/nurture/segments",
        {"name": "Scored", "conditions": [{"field": "score", "op": "gte", "value": 10},
                                           {"field": "score", "op": "gte", "value": "high"}]},
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["errors"] == {"conditions[1].value": ["Must be a number."]}


def test_a_taken_segment_name_is_a_conflict_on_the_name(api_as, marketer):
    first = api_as(marketer).post("/nurture/segments", {"name": "VPs"}).json()["id"]
    response = api_as(marketer).post("/nurture/segments", {"name": "VPs"})
    assert response.status_code == 409 and response.json()["errors"] == {"name": [f"Already used by segment {first}."]}
    assert response.json()["existing_id"] == first


def test_templates_are_created_changed_and_previewed_for_a_lead(api_as, marketer):
    lead = LeadFactory(contact=ContactFactory(first_name="Ana <b>"))
    client = api_as(marketer)
    refused = client.post("/nurture/templates", {"name": "Bad", "subject": "Hi", "body": "{% load evil %}"})
    assert refused.status_code == 422 and list(refused.json()["errors"]) == ["body"]
    created = client.post("/nurture/templates", {"name": "Welcome", "subject": "Hi {{ contact.first_name }}",
                                                 "body": BODY})  # fmt: skip
    assert created.status_code == 201
    template_id = created.json()["id"]
    assert client.patch(f"/nurture/templates/{template_id}", {"subject": "Hello"}).json()["subject"] == "Hello"
    assert client.get("/nurture/templates").json()["total"] == 1
    preview = client.post(f"/nurture/templates/{template_id}/preview", {"lead_id": lead.pk}).json()
    assert preview["subject"] == "Hello"
    assert "Hi Ana &lt;b&gt;, see" in preview["html"]
    assert preview["text"] == "Hi Ana <b>, see the guide (https://example.com/guide).\n"
    missing = client.post(f"/nurture/templates/{template_id}/preview", {"lead_id": 999999})
    assert missing.status_code == 422 and missing.json()["errors"] == {"lead_ids": ["No lead with id 999999."]}


def test_a_sequence_is_built_started_and_read_with_its_steps_and_figures(api_as, marketer, template):
    client = api_as(marketer)
    segment = client.post("/nurture/segments", {"name": "Everyone"}).json()
    created = client.post("/nurture/sequences", {"name": "Drip", "segment_id": segment["id"],
                                                  "exit_when": ["replied"]})  # fmt: skip
    assert created.status_code == 201 and created.json()["is_active"] is False
    sequence_id = created.json()["id"]
    refused = client.patch(f"/nurture/sequences/{sequence_id}", {"is_active": True})
    assert refused.json()["errors"] == {"is_active": ["Add a step before starting the sequence."]}
    steps = f"/nurture/sequences/{sequence_id}/steps"
    no_template = client.post(steps, {"kind": "email"})
    assert no_template.json()["errors"] == {"template_id": ["An email step sends a template."]}
    assert client.post(steps, {"kind": "email", "template_id": 999}).json()["errors"] == {
        "template_id": ["No email template with id 999."]
    }
    assert client.post(steps, {"kind": "wait", "config": {}}).json()["errors"] == {
        "config.days": ["Wait some days or hours, or until a weekday and hour."]
    }
    email = client.post(steps, {"kind": "email", "template_id": template.pk})
    assert email.status_code == 201 and email.json()["position"] == 1
    wait = client.post(steps, {"kind": "wait", "config": {"days": 2}}).json()
    assert client.patch(f"/nurture/sequences/{sequence_id}", {"is_active": True}).json()["is_active"] is True
    body = client.get(f"/nurture/sequences/{sequence_id}").json()
    assert [(step["position"], step["kind"]) for step in body["steps"]] == [(1, "email"), (2, "wait")]
    assert body["segment_id"] == segment["id"] and body["exit_when"] == ["replied"]
    assert body["stats"]["enrolled"] == 0 and body["stats"]["steps"] == []
    assert client.get("/nurture/sequences").json()["items"][0]["name"] == "Drip"
    assert client.delete(f"{steps}/{wait['id']}").status_code == 204
    assert list(Step.objects.filter(sequence=sequence_id).values_list("kind", flat=True)) == ["email"]


def test_leads_are_enrolled_by_id(api_as, marketer, sequence):
    leads = [LeadFactory(), LeadFactory()]
    client = api_as(marketer)
    path = f"/nurture/sequences/{sequence.pk}/enrol"
    assert client.post(path, {"lead_ids": [lead.pk for lead in leads]}).json() == {"enrolled": 2}
    assert client.post(path, {"lead_ids": [leads[0].pk]}).json() == {"enrolled": 0}
    assert client.post(path, {"lead_ids": "all"}).json()["errors"].keys() == {"lead_ids"}
    assert client.get(f"/nurture/sequences/{sequence.pk}").json()["stats"]["active"] == 2


def test_the_mail_system_reports_a_bounce_which_suppresses_the_address(api_as, marketer, rep, sequence):
    NurtureSettings.objects.create(pk=1, quiet_from=0, quiet_until=0)
    lead = LeadFactory(contact=ContactFactory(email="ana@bounce.example", email_opt_in=True))
    enrol_leads(sequence, [lead], by=marketer)
    run_nurture()
    delivery = Delivery.objects.get(lead=lead)
    path = f"/nurture/deliveries/{delivery.pk}/outcome"
    assert api_as(rep).post(path, {"outcome": "bounced"}).status_code == 403
    assert api_as(marketer).post(path, {"outcome": "lost"}).json()["errors"] == {
        "outcome": ["Must be replied, bounced or complained."]
    }
    answered = api_as(marketer).post(path, {"outcome": "bounced"})
    assert answered.status_code == 200 and answered.json()["bounced_at"] is not None
    assert Suppression.objects.get().email == "ana@bounce.example"
    page = api_as(marketer).get("/nurture/suppressions").json()
    assert page["total"] == 1 and page["items"][0]["reason"] == "bounced"
    assert page["items"][0]["note"] == f"Email {delivery.pk}"


def test_unknown_rows_are_not_found(api_as, marketer):
    client = api_as(marketer)
    assert client.get("/nurture/sequences/999").status_code == 404
    assert client.post("/nurture/deliveries/999/outcome", {"outcome": "replied"}).status_code == 404
    assert client.get("/nurture/segments/999/preview").status_code == 404
    assert Sequence.objects.count() == 0


def test_a_template_in_use_is_not_deleted(api_as, marketer, sequence):
    used = Step.objects.get(sequence=sequence).template
    refused = api_as(marketer).delete(f"/nurture/templates/{used.pk}")
    assert refused.status_code == 409 and "remove that step first" in refused.json()["detail"]
    spare = save_template(None, by=marketer, name="Spare", subject="S", body="<p>B</p>")
    assert api_as(marketer).delete(f"/nurture/templates/{spare.pk}").status_code == 204


def test_a_segment_filters_the_leads_list(api_as, client, marketer):
    vp = LeadFactory(contact=ContactFactory(seniority="vp", last_name="Veep"))
    other = LeadFactory(contact=ContactFactory(seniority="manager", last_name="Mgr"))
    segment = Segment.objects.create(name="VPs", conditions=[{"field": "seniority", "op": "in", "value": ["vp"]}])
    listed = api_as(marketer).get("/leads", {"segment_id": segment.pk}).json()
    assert [item["id"] for item in listed["items"]] == [vp.pk]
    assert api_as(marketer).get("/leads", {"segment_id": 999}).json()["errors"] == {
        "segment_id": ["No segment with id 999."]
    }
    client.force_login(marketer)
    page = client.get("/leads/", {"segment": segment.pk}).content.decode()
    assert f"/leads/{vp.pk}/" in page and f"/leads/{other.pk}/" not in page
