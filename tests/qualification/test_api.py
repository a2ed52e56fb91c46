"""The qualification API and CLI: the same services, with permissions, validation that names the field, pages."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.services import record_lifecycle_change
from leadflow.pipeline.models import ActivityKind
from leadflow.pipeline.services import log_activity
from leadflow.qualification.models import AssignmentRule, Handoff, SlaBreach
from leadflow.users.services import notify

from ..factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


def _prospect(lead):
    record_lifecycle_change(lead, to=LifecycleStage.PROSPECT, by=None, reason="Score 70 reached the MQL threshold")
    return Handoff.objects.get(lead=lead)


def test_criteria_are_read_and_changed_by_admins_only(api_as, admin, rep):
    criteria = api_as(rep).get("/qualification/criteria").json()
    assert [item["kind"] for item in criteria] == ["budget", "authority", "need", "timing", "icp_fit"]
    assert api_as(rep).put("/qualification/criteria", {"criteria": [{"kind": "need"}]}).status_code == 403
    response = api_as(admin).put(
        "/qualification/criteria", {"criteria": [{"kind": "icp_fit", "threshold": 101, "required_to_accept": True}]}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {"criteria[0].threshold": ["Must be between 0 and 100."]}
    response = api_as(admin).put(
        "/qualification/criteria", {"criteria": [{"kind": "need", "required_to_accept": True}]}
    )
    assert response.status_code == 200
    assert next(item for item in response.json() if item["kind"] == "need")["required_to_accept"] is True


def test_the_queue_accepts_and_rejects(api_as, rep, marketer, east):
    mine, theirs = LeadFactory(owner=rep, team=east), LeadFactory(owner=rep, team=east)
    first, second = _prospect(mine), _prospect(theirs)
    page = api_as(rep).get("/queue").json()
    assert page["total"] == 2 and {item["lead_id"] for item in page["items"]} == {mine.pk, theirs.pk}
    assert {item["lead_name"] for item in page["items"]} == {str(mine.contact), str(theirs.contact)}
    assert api_as(marketer).post(f"/handoffs/{first.pk}/accept").status_code == 403
    accepted = api_as(rep).post(f"/handoffs/{first.pk}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert api_as(rep).post(f"/handoffs/{second.pk}/reject", {"reason": ""}).json()["errors"] == {
        "reason": ["Say why the lead is rejected."]
    }
    rejected = api_as(rep).post(f"/handoffs/{second.pk}/reject", {"reason": "No budget this year"})
    assert rejected.json()["rejection_reason"] == "No budget this year"
    assert Lead.objects.get(pk=theirs.pk).lifecycle_stage == LifecycleStage.RECYCLED
    assert api_as(rep).get("/queue").json()["total"] == 0
    assert api_as(rep).get("/queue", {"status": "accepted"}).json()["total"] == 1


def test_a_handoff_out_of_sight_does_not_exist(api_as, rep, other_rep):
    handoff = _prospect(LeadFactory(owner=rep))
    assert api_as(other_rep).post(f"/handoffs/{handoff.pk}/accept").status_code == 404


def test_lead_qualification_shows_checks_handoff_and_owners(api_as, manager, rep):
    lead = LeadFactory(need="Invoices by hand", team=manager.team)
    _prospect(lead)
    api_as(manager).patch(f"/leads/{lead.pk}", {"owner_id": rep.pk})
    body = api_as(rep).get(f"/leads/{lead.pk}/qualification").json()
    need = next(check for check in body["checks"] if check["kind"] == "need")
    assert need == {
        "kind": "need", "label": "Need", "met": True, "evidence": "need: “Invoices by hand”",
        "required_to_accept": False, "required_to_convert": False,
    }  # fmt: skip
    assert body["handoff"]["status"] == "pending" and body["handoff"]["qualified_by"] == "score"
    assert [(a["owner_id"], a["how"], a["by_id"]) for a in body["assignments"]] == [(rep.pk, "by_hand", manager.pk)]


def test_assignment_rules_through_the_api(api_as, admin, manager, rep, east):
    assert api_as(rep).post("/qualification/assignment-rules", {"name": "x", "user_id": rep.pk}).status_code == 403
    bad = api_as(manager).post("/qualification/assignment-rules", {"name": "x", "team_id": 999})
    assert bad.status_code == 422 and "team_id" in bad.json()["errors"]
    created = api_as(manager).post(
        "/qualification/assignment-rules",
        {
            "name": "East",
            "team_id": east.pk,
            "distribution": "weighted",
            "weights": {str(rep.pk): 2},
            "regions": ["East"],
        },
    )
    assert created.status_code == 201, created.json()
    assert created.json()["weights"] == [{"user_id": rep.pk, "weight": 2, "assigned": 0}]
    second = api_as(admin).post("/qualification/assignment-rules", {"name": "Fallback", "user_id": rep.pk}).json()
    assert api_as(admin).post(f"/qualification/assignment-rules/{second['id']}/move", {"step": -1}).status_code == 204
    listed = api_as(admin).get("/qualification/assignment-rules").json()
    assert [item["name"] for item in listed["items"]] == ["Fallback", "East"]
    patched = api_as(admin).patch(f"/qualification/assignment-rules/{second['id']}", {"is_active": False})
    assert patched.json()["is_active"] is False
    assert api_as(admin).delete(f"/qualification/assignment-rules/{second['id']}").status_code == 204
    assert AssignmentRule.objects.count() == 1


def test_assign_and_sla_check_run_for_managers(api_as, manager, rep, east):
    api_as(manager).post("/qualification/assignment-rules", {"name": "East", "team_id": east.pk})
    lead = LeadFactory()
    Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=LifecycleStage.PROSPECT)
    assert api_as(rep).post("/qualification/assign", {}).status_code == 403
    assert api_as(manager).post("/qualification/assign", {}).json() == {"assigned": 1, "unassigned": 0}
    handoff = _prospect(LeadFactory(owner=rep, team=east))
    Handoff.objects.filter(pk=handoff.pk).update(first_touch_due_at=timezone.now() - timedelta(minutes=1))
    assert api_as(rep).post("/sla/check").status_code == 403
    assert api_as(manager).post("/sla/check").json() == {"first_touch": 1, "decision": 0, "reassigned": 0}
    breaches = api_as(rep).get("/sla/breaches").json()
    assert breaches["total"] == 1 and breaches["items"][0]["lead_id"] == handoff.lead_id
    at_risk = api_as(rep).get("/sla/no-lead-lost").json()
    problems = {item["lead_id"]: item["problems"] for item in at_risk["items"]}
    # the second lead waits for sales' decision, within its SLA: that is its next step
    assert problems == {lead.pk: ["no next step"], handoff.lead_id: ["not touched within the SLA"]}
    notes = api_as(rep).get("/notifications").json()
    assert notes["total"] == 1 and notes["items"][0]["text"].startswith("SLA missed:")
    assert api_as(rep).post("/notifications/read").status_code == 204
    assert api_as(rep).get("/notifications").json()["items"][0]["read_at"] is not None


def test_intent_rules_and_settings_through_the_api(api_as, admin, marketer, rep):
    assert api_as(rep).post("/qualification/intent-rules", {"name": "x", "event_type": "demo"}).status_code == 403
    bad = api_as(marketer).post(
        "/qualification/intent-rules", {"name": "Trial", "event_type": "form_submission", "property_name": "form"}
    )
    assert bad.status_code == 422 and "property_contains" in bad.json()["errors"]
    made = api_as(marketer).post(
        "/qualification/intent-rules",
        {"name": "Trial", "event_type": "form_submission", "property_name": "form", "property_contains": "trial"},
    )
    assert made.status_code == 201
    assert api_as(marketer).get("/qualification/intent-rules").json()["total"] == 4  # three defaults and this one
    assert api_as(marketer).patch("/qualification/settings", {"hot_score": 80}).status_code == 403
    changed = api_as(admin).patch("/qualification/settings", {"hot_score": 80, "business_days": [0, 1, 2, 3]})
    assert changed.json()["hot_score"] == 80 and changed.json()["business_days"] == [0, 1, 2, 3]
    bad = api_as(admin).patch("/qualification/settings", {"time_zone": "Nowhere/Else"})
    assert bad.status_code == 422 and "time_zone" in bad.json()["errors"]
    assert api_as(rep).get("/qualification/rates", {"by": "rule"}).status_code == 200


def test_the_cli_assigns_and_checks(admin, rep, east):
    from leadflow.qualification.services import create_assignment_rule

    create_assignment_rule(by=admin, name="East", team=east)
    lead = LeadFactory()
    Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=LifecycleStage.PROSPECT)
    out = StringIO()
    call_command("assign", stdout=out)
    assert "Assigned 1 lead;" in out.getvalue()
    handoff = _prospect(LeadFactory(owner=rep))
    Handoff.objects.filter(pk=handoff.pk).update(first_touch_due_at=timezone.now() - timedelta(hours=1))
    log_activity(by=rep, kind=ActivityKind.TASK, subject="Call", lead=handoff.lead, due_at=timezone.now())
    out = StringIO()
    call_command("sla", "check", stdout=out)
    assert "New breaches: 1 first touch, 0 accept/reject" in out.getvalue()
    assert SlaBreach.objects.count() == 1
    out = StringIO()
    call_command("sla", "report", stdout=out)
    assert "at risk (no owner, next step or touch within SLA): 2" in out.getvalue()
    assert f"lead {handoff.lead_id} " in out.getvalue() and "not touched within the SLA" in out.getvalue()


def test_notifications_are_emailed_after_commit(rep, django_capture_on_commit_callbacks, mailoutbox):
    rep.email = "sam@example.com"
    rep.save()
    other = UserFactory(username="nomail", email="")
    with django_capture_on_commit_callbacks(execute=True):
        notify([rep, rep, other], "Hello", url="/leads/1/")
    assert rep.notifications.count() == 1 and other.notifications.count() == 1
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["sam@example.com"]


def test_acceptance_rates_are_reports_that_take_the_dashboards_filters(rep):
    import json

    for source in ("inbound_marketing", "other"):
        _prospect(LeadFactory(owner=rep, source=source))
    out = StringIO()
    call_command("report", "handoffs-by-source", "--json", "--source", "other", stdout=out)
    assert [(row["group"], row["handed"], row["waiting"]) for row in json.loads(out.getvalue())] == [("other", 1, 1)]
