"""Qualification in the web app: the sales queue and its decisions, the lead page's card, the settings page, and
notifications."""

import json

import pytest

from leadflow.leads.models import Lead
from leadflow.leads.services import assign_owner, record_lifecycle_change
from leadflow.pipeline.selectors import default_pipeline
from leadflow.qualification.models import AssignmentRule, AssignmentWeight, Handoff, IntentRule, QualificationCriterion
from leadflow.qualification.selectors import qualification_settings
from leadflow.qualification.services import accept_handoff, create_assignment_rule, save_criteria
from leadflow.users.models import Notification
from leadflow.users.services import notify

from ..clients import HTMX, signed_in
from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def hand_over(owner, first_name: str = "Ana", **lead_fields) -> Handoff:
    """A lead of the owner's that qualifies by its score: it waits in the sales queue."""
    lead = LeadFactory(contact=ContactFactory(first_name=first_name, last_name="Lima"), owner=owner,
                       team=owner.team, **lead_fields)  # fmt: skip
    record_lifecycle_change(lead, to="prospect", by=None, reason="Score 72 reached the MQL threshold (60)")
    return Handoff.objects.get(lead=lead)


@pytest.fixture
def handoff(rep) -> Handoff:
    return hand_over(rep)


# --- the sales queue ----------------------------------------------------------------------------------------------


def test_the_sales_queue_lists_waiting_leads_with_why_and_how_many_criteria_are_met(rep):
    hand_over(rep, need="Approvals take weeks")
    page = signed_in(rep).get("/queue/").content.decode()
    assert "Ana Lima" in page and "Score 72 reached the MQL threshold (60)" in page
    assert "1/5" in page and "✓ Need: need: “Approvals take weeks”" in page
    assert ">Accept<" in page and "Why reject?" in page


def test_marketing_has_no_sales_queue(marketer):
    assert signed_in(marketer).get("/queue/").status_code == 404


def test_accepting_from_the_queue_redraws_the_row_and_says_so(rep, handoff):
    response = signed_in(rep).post(f"/handoffs/{handoff.pk}/accept/", **HTMX)
    assert response.status_code == 200
    assert "Accepted" in response.content.decode() and ">Accept<" not in response.content.decode()
    assert json.loads(response["HX-Trigger"])["toast"] == {"text": "Accepted: Ana Lima.", "kind": "success"}
    handoff.refresh_from_db()
    assert handoff.status == "accepted" and handoff.decided_by == rep


def test_rejecting_needs_a_reason(rep, handoff):
    response = signed_in(rep).post(f"/handoffs/{handoff.pk}/reject/", {"reason": " "}, **HTMX)
    assert response.status_code == 422
    assert "Say why the lead is rejected." in response.content.decode()
    assert json.loads(response["HX-Trigger"])["toast"]["kind"] == "error"
    handoff.refresh_from_db()
    assert handoff.status == "pending"


def test_rejecting_with_a_reason_sends_the_lead_back_to_nurture(rep, handoff):
    response = signed_in(rep).post(f"/handoffs/{handoff.pk}/reject/", {"reason": "Student project"}, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Rejected" in page and "Student project" in page
    assert Lead.objects.get(pk=handoff.lead_id).lifecycle_stage == "recycled"


def test_a_refused_accept_names_the_missing_criteria(rep, admin, handoff):
    save_criteria(default_pipeline(), [{"kind": "budget", "required_to_accept": True}], by=admin)
    response = signed_in(rep).post(f"/handoffs/{handoff.pk}/accept/", **HTMX)
    assert response.status_code == 422
    page = response.content.decode()
    assert "Cannot accept yet, missing:" in page and "Budget: no budget confirmed" in page
    assert ">Accept<" in page  # still waiting: it can be accepted once the budget is confirmed
    assert "no budget confirmed" in json.loads(response["HX-Trigger"])["toast"]["text"]


def test_marketing_cannot_accept(marketer, handoff):
    assert signed_in(marketer).post(f"/handoffs/{handoff.pk}/accept/", **HTMX).status_code == 404
    handoff.refresh_from_db()
    assert handoff.status == "pending"


def test_a_rep_cannot_decide_on_another_teams_lead(other_rep, handoff):
    response = signed_in(other_rep).post(f"/handoffs/{handoff.pk}/reject/", {"reason": "Not mine"}, **HTMX)
    assert response.status_code == 404


def test_a_decision_from_a_plain_form_goes_back_with_a_message(rep, handoff):
    lead_page = f"/leads/{handoff.lead_id}/"
    response = signed_in(rep).post(f"/handoffs/{handoff.pk}/accept/", {"next": lead_page}, follow=True)
    assert response.redirect_chain[-1][0] == lead_page
    assert "Accepted: Ana Lima." in response.content.decode()


def test_deciding_twice_says_it_was_already_decided(rep, handoff):
    client = signed_in(rep)
    client.post(f"/handoffs/{handoff.pk}/accept/", **HTMX)
    response = client.post(f"/handoffs/{handoff.pk}/reject/", {"reason": "Changed my mind"}, **HTMX)
    assert response.status_code == 422
    assert "This lead was already accepted." in response.content.decode()


def test_no_lead_lost_lists_the_prospects_at_risk_and_why(rep, handoff):
    accept_handoff(handoff, by=rep)  # accepted, but nothing planned next
    page = signed_in(rep).get("/queue/at-risk/").content.decode()
    assert "1 qualified lead at risk" in page
    assert "Ana Lima" in page and "no next step" in page


def test_no_lead_lost_is_healthy_when_no_prospect_is_at_risk(rep):
    page = signed_in(rep).get("/queue/at-risk/").content.decode()
    assert "No qualified lead is at risk" in page


def test_acceptance_rates_show_per_source_way_and_rule(rep, handoff):
    rejected = hand_over(rep, first_name="Bo")
    client = signed_in(rep)
    client.post(f"/handoffs/{handoff.pk}/accept/", **HTMX)
    client.post(f"/handoffs/{rejected.pk}/reject/", {"reason": "No budget"}, **HTMX)
    page = client.get("/queue/rates/").content.decode()
    assert "Inbound marketing" in page and "Score reached the MQL threshold" in page
    assert "No rule (account owner, or taken by hand)" in page
    assert page.count("50.0%") == 6  # accepted and rejected, in each of the three tables


# --- the lead page ------------------------------------------------------------------------------------------------


def test_the_lead_page_shows_the_checklist_the_handoff_and_the_owners(rep, admin, handoff):
    save_criteria(default_pipeline(), [{"kind": "need", "required_to_convert": True}], by=admin)
    assign_owner(handoff.lead, rep, by=admin, how="by_hand")
    page = signed_in(rep).get(f"/leads/{handoff.lead_id}/").content.decode()
    card = page[page.index('id="qualification"') : page.index('id="timeline-title"')]
    assert "No budget confirmed" in card and "No need recorded" in card and "required to convert" in card
    assert "Waiting for sales" in card and "Score 72 reached the MQL threshold (60)" in card
    assert ">Accept<" in card
    assert "By hand · by " in card


def test_marketing_sees_the_checklist_but_cannot_decide_on_the_lead_page(marketer, handoff):
    page = signed_in(marketer).get(f"/leads/{handoff.lead_id}/").content.decode()
    assert "Waiting for sales" in page and ">Accept<" not in page


def test_saving_bant_answers_redraws_the_checklist(rep, handoff):
    response = signed_in(rep).post(
        f"/leads/{handoff.lead_id}/bant/",
        {"budget_amount": "50000", "budget_confirmed": "on", "authority": "decision_maker"},
        **HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 200 and 'hx-swap-oob="true"' in page
    assert "Budget confirmed: 50,000" in page and "Talking to the decision maker" in page


# --- settings -----------------------------------------------------------------------------------------------------


def test_a_rep_cannot_open_the_qualification_settings(rep):
    assert signed_in(rep).get("/settings/qualification/").status_code == 404


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("admin", ["Qualification checklists", "Response times", "Assignment rules", "Explicit intent"], []),
        ("manager", ["Assignment rules"], ["Qualification checklists", "Response times", "Explicit intent"]),
        ("marketer", ["Explicit intent"], ["Qualification checklists", "Response times", "Assignment rules"]),
    ],
)
def test_each_role_sees_the_settings_it_may_change(request, role, shown, hidden):
    page = signed_in(request.getfixturevalue(role)).get("/settings/qualification/").content.decode()
    assert all(title in page for title in shown) and not any(title in page for title in hidden)


def criteria_post(pipeline_id: int, **flags: dict) -> dict:
    """The checklist form as a browser posts it: every criterion on the list, thresholds as given."""
    data = {f"p{pipeline_id}-criteria[{index}].is_active": "on" for index in range(5)}
    data |= {f"p{pipeline_id}-criteria[{i}].threshold": v for i, v in ((0, ""), (3, "180"), (4, "60"))}
    return data | {f"p{pipeline_id}-{name}": value for name, value in flags.items()}


def test_an_admin_saves_a_checklist(admin):
    pipeline = default_pipeline()
    data = criteria_post(pipeline.pk, **{"criteria[0].required_to_accept": "on", "criteria[4].threshold": "75"})
    response = signed_in(admin).post(f"/settings/qualification/criteria/{pipeline.pk}/", data)
    assert response.status_code == 302
    budget = QualificationCriterion.objects.get(pipeline=pipeline, kind="budget")
    assert budget.required_to_accept
    assert QualificationCriterion.objects.get(pipeline=pipeline, kind="icp_fit").threshold == 75


def test_a_checklist_refusal_shows_on_its_row(admin):
    pipeline = default_pipeline()
    data = criteria_post(pipeline.pk, **{"criteria[3].threshold": ""})
    response = signed_in(admin).post(f"/settings/qualification/criteria/{pipeline.pk}/", data)
    assert response.status_code == 422
    page = response.content.decode()
    assert 'class="field has-error"' in page and "Give a number." in page
    assert not QualificationCriterion.objects.filter(pipeline=pipeline).exists()


def test_sla_settings_are_saved_and_their_errors_named(admin):
    client = signed_in(admin)
    data = {
        **{"hot_score": "80", "hot_first_touch_hours": "2", "first_touch_hours": "8", "decision_hours": "16"},
        **{"day_starts": "9", "day_ends": "17", "business_days": ["0", "1", "2"], "time_zone": "Europe/Berlin"},
    }
    assert client.post("/settings/qualification/sla/", data).status_code == 302
    saved = qualification_settings()
    assert (saved.hot_score, saved.business_days, saved.time_zone) == (80, [0, 1, 2], "Europe/Berlin")
    response = client.post("/settings/qualification/sla/", data | {"day_ends": "8"})
    assert response.status_code == 422
    assert 'id="id_day_ends-error">The business day must end after it starts.' in response.content.decode()


def test_marketing_adds_turns_off_and_deletes_an_intent_rule(marketer):
    client = signed_in(marketer)
    data = {
        "name": "Trial signup",
        "event_type": "form_submission",
        "property_name": "form",
        "property_contains": "trial",
    }
    assert client.post("/settings/qualification/intent-rules/", data).status_code == 302
    rule = IntentRule.objects.get(name="Trial signup")
    client.post(f"/settings/qualification/intent-rules/{rule.pk}/toggle/")
    rule.refresh_from_db()
    assert not rule.is_active
    client.post(f"/settings/qualification/intent-rules/{rule.pk}/delete/")
    assert not IntentRule.objects.filter(pk=rule.pk).exists()


def test_an_intent_rule_error_shows_on_its_field(marketer):
    data = {"name": "Trial signup", "event_type": "form_submission", "property_name": "form"}
    response = signed_in(marketer).post("/settings/qualification/intent-rules/", data)
    assert response.status_code == 422
    assert 'id="id_property_contains-error">Give both the property' in response.content.decode()


def test_an_assignment_rule_needs_a_person_or_a_team(manager):
    response = signed_in(manager).post(
        "/settings/qualification/assignment-rules/", {"name": "EMEA", "distribution": "round_robin"}
    )
    assert response.status_code == 422
    assert 'id="id_user-error">Assign to one user or to one team.' in response.content.decode()


def test_marketing_may_not_change_assignment_rules(marketer, east):
    response = signed_in(marketer).post(
        "/settings/qualification/assignment-rules/", {"name": "EMEA", "team": east.pk, "distribution": "round_robin"}
    )
    assert response.status_code == 403
    assert "Only admins and sales managers may change assignment rules." in response.content.decode()
    assert not AssignmentRule.objects.exists()


def test_a_weighted_team_rule_goes_on_to_its_reps_weights(manager, rep, teammate, east):
    client = signed_in(manager)
    data = {"name": "Enterprise", "team": east.pk, "distribution": "weighted", "employee_bands": ["2000+"],
            "is_active": "on"}  # fmt: skip
    response = client.post("/settings/qualification/assignment-rules/", data)
    rule = AssignmentRule.objects.get(name="Enterprise")
    assert response.status_code == 302 and response.url == f"/settings/qualification/assignment-rules/{rule.pk}/"
    form = client.get(response.url).content.decode()
    assert f"Weight of {rep}" in form and f"Weight of {teammate}" in form
    response = client.post(response.url, data | {f"weights.{rep.pk}": "3", f"weights.{teammate.pk}": "1"})
    assert response.status_code == 302
    assert AssignmentWeight.objects.get(rule=rule, user=rep).weight == 3


def test_a_weight_below_one_is_refused_on_its_field(manager, rep, east):
    rule = create_assignment_rule(by=manager, name="Enterprise", team=east, distribution="weighted")
    data = {"name": "Enterprise", "team": east.pk, "distribution": "weighted", f"weights.{rep.pk}": "0"}
    response = signed_in(manager).post(f"/settings/qualification/assignment-rules/{rule.pk}/", data)
    assert response.status_code == 422
    assert f'id="id_weights.{rep.pk}-error">Must be at least 1.' in response.content.decode()


def test_assignment_rules_move_deactivate_and_delete(manager, rep):
    first = create_assignment_rule(by=manager, name="First", user=rep)
    second = create_assignment_rule(by=manager, name="Second", user=rep)
    client = signed_in(manager)
    client.post(f"/settings/qualification/assignment-rules/{second.pk}/move/", {"direction": "up"})
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["Second", "First"]
    client.post(f"/settings/qualification/assignment-rules/{first.pk}/toggle/")
    first.refresh_from_db()
    assert not first.is_active
    page = client.get("/settings/qualification/").content.decode()
    assert page.index("Second") < page.index("First") and "inactive" in page
    client.post(f"/settings/qualification/assignment-rules/{first.pk}/delete/")
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["Second"]


# --- notifications ------------------------------------------------------------------------------------------------


def test_the_bell_counts_unread_notifications_and_the_page_marks_them_read(rep):
    notify([rep], "SLA missed: Ana Lima not touched within 1 business hour.", url="/queue/")
    client = signed_in(rep)
    assert '<span class="count">1</span>' in client.get("/").content.decode()
    page = client.get("/notifications/").content.decode()
    assert "SLA missed: Ana Lima" in page and ">new<" in page
    assert '<span class="count">' not in page  # the bell, once they are read
    assert not Notification.objects.filter(user=rep, read_at__isnull=True).exists()
    assert ">new<" not in client.get("/notifications/").content.decode()
