"""Qualification and handoff: criteria with evidence, explicit intent, the sales queue's decisions, assignment rules,
and SLA clocks in business hours."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from leadflow.engagement.services import EventIn, ingest_events
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.leads.models import Assignment, AssignmentHow, Authority, Lead, LifecycleStage
from leadflow.leads.services import record_lifecycle_change, transition_lead
from leadflow.pipeline.models import ActivityKind
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import convert_lead, log_activity
from leadflow.qualification.business_hours import BusinessHours
from leadflow.qualification.models import (
    Distribution,
    Handoff,
    HandoffStatus,
    IntentRule,
    QualifiedBy,
    SlaBreach,
    SlaKind,
)
from leadflow.qualification.selectors import check_criteria, handoff_rates, no_lead_lost, problems_of
from leadflow.qualification.services import (
    accept_handoff,
    assign_waiting_leads,
    check_slas,
    create_assignment_rule,
    open_handoff,
    reject_handoff,
    save_criteria,
    save_settings,
)
from leadflow.scoring.models import LeadScore
from leadflow.users.models import Notification, Role

from ..factories import AccountFactory, ContactFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _checks(lead):
    return {check.kind: check for check in check_criteria(lead, default_pipeline())}


def _prospect(lead, *, at=None, reason="Score 60 reached the MQL threshold (50)"):
    record_lifecycle_change(lead, to=LifecycleStage.PROSPECT, by=None, reason=reason, at=at)
    return Handoff.objects.get(lead=lead, status__in=[HandoffStatus.PENDING, HandoffStatus.ACCEPTED])


# --- criteria -----------------------------------------------------------------------------------------------------


def test_budget_needs_a_confirmed_budget_at_least_the_threshold(admin):
    lead = LeadFactory(budget_amount=Decimal("20000"))
    assert _checks(lead)["budget"].evidence == "budget of 20,000 named but not confirmed"
    lead.budget_confirmed = True
    assert _checks(lead)["budget"].met
    save_criteria(default_pipeline(), [{"kind": "budget", "threshold": 50000}], by=admin)
    check = _checks(lead)["budget"]
    assert not check.met and check.evidence == "confirmed budget 20,000 is below 50,000"


def test_authority_is_the_decision_maker_or_a_senior_contact():
    lead = LeadFactory()
    assert _checks(lead)["authority"].evidence == "no decision maker identified"
    lead.authority = Authority.INFLUENCER
    assert not _checks(lead)["authority"].met
    lead.authority = Authority.DECISION_MAKER
    assert _checks(lead)["authority"].evidence == "talking to the decision maker"
    vp = LeadFactory(contact=ContactFactory(seniority="vp"))
    assert _checks(vp)["authority"].met and _checks(vp)["authority"].evidence == "contact is VP"


def test_need_is_the_buyers_words():
    lead = LeadFactory()
    assert not _checks(lead)["need"].met
    lead.need = "Month-end close takes  two weeks"
    assert _checks(lead)["need"].evidence == "need: “Month-end close takes two weeks”"


def test_timing_is_a_target_date_ahead_within_the_threshold():
    lead = LeadFactory()
    assert _checks(lead)["timing"].evidence == "no target date"
    today = timezone.localdate()
    lead.timing_target_date = today + timedelta(days=30)
    assert _checks(lead)["timing"].met
    lead.timing_target_date = today + timedelta(days=400)
    assert "more than 180" in _checks(lead)["timing"].evidence
    lead.timing_target_date = today - timedelta(days=1)
    assert "has passed" in _checks(lead)["timing"].evidence


def test_icp_fit_reads_the_score_against_the_threshold():
    lead = LeadFactory()
    assert _checks(lead)["icp_fit"].evidence == "not scored against the ideal customer profile"
    LeadScore.objects.create(lead=lead, icp_match=50)
    assert _checks(lead)["icp_fit"].evidence == "ICP match 50% (needs 60%)"
    LeadScore.objects.filter(lead=lead).update(icp_match=75)
    assert _checks(Lead.objects.get(pk=lead.pk))["icp_fit"].met


def test_an_inactive_criterion_leaves_the_checklist(admin):
    save_criteria(default_pipeline(), [{"kind": "timing", "is_active": False, "threshold": 90}], by=admin)
    assert "timing" not in _checks(LeadFactory())


def test_criteria_are_checked_before_saving(admin, rep):
    with pytest.raises(NotAllowed):
        save_criteria(default_pipeline(), [{"kind": "need", "required_to_accept": True}], by=rep)
    with pytest.raises(InvalidInput) as error:
        save_criteria(default_pipeline(), [{"kind": "icp_fit", "threshold": 120}], by=admin)
    assert error.value.errors == {"criteria[0].threshold": ["Must be between 0 and 100."]}
    with pytest.raises(InvalidInput):
        save_criteria(default_pipeline(), [{"kind": "need", "is_active": False, "required_to_accept": True}], by=admin)


def test_a_move_to_prospect_or_a_conversion_names_the_missing_criteria(admin, rep):
    save_criteria(
        default_pipeline(),
        [{"kind": "need", "required_to_accept": True}, {"kind": "budget", "required_to_convert": True}],
        by=admin,
    )
    lead = LeadFactory(owner=rep)
    with pytest.raises(Conflict) as refused:
        transition_lead(lead, to=LifecycleStage.PROSPECT, by=rep)
    assert refused.value.errors == {"qualification": ["Need: no need recorded"]}
    assert Lead.objects.get(pk=lead.pk).lifecycle_stage == LifecycleStage.LEAD
    lead.need = "Too many invoices"
    lead.save()
    transition_lead(lead, to=LifecycleStage.PROSPECT, by=rep)
    with pytest.raises(Conflict) as refused:
        convert_lead(lead, by=rep)
    assert refused.value.errors == {"qualification": ["Budget: no budget confirmed"]}
    lead.budget_confirmed = True
    lead.save()
    opportunity, created = convert_lead(lead, by=rep)
    assert created and opportunity.lead_id == lead.pk


# --- explicit intent ----------------------------------------------------------------------------------------------


def _event(lead, kind, **properties):
    return EventIn(type=kind, occurred_at=timezone.now(), lead_id=lead.pk, properties=properties)


def test_a_demo_request_makes_a_lead_a_prospect_at_once(admin):
    lead = LeadFactory()
    ingest_events([_event(lead, "demo_request", page="/demo")], by=admin)
    lead.refresh_from_db()
    assert lead.lifecycle_stage == LifecycleStage.PROSPECT
    change = lead.stage_changes.order_by("-at", "-id").first()
    assert change.reason.startswith("Explicit intent: Demo request (demo request on ")
    handoff = Handoff.objects.get(lead=lead)
    assert handoff.qualified_by == QualifiedBy.INTENT and handoff.intent_rule.name == "Demo request"
    assert handoff.status == HandoffStatus.PENDING


def test_intent_rules_can_require_a_property(admin):
    pricing, other, recycled = LeadFactory(), LeadFactory(), LeadFactory()
    record_lifecycle_change(recycled, to=LifecycleStage.DISQUALIFIED, by=None, reason="Wrong person")
    record_lifecycle_change(recycled, to=LifecycleStage.RECYCLED, by=None, reason="Try again")
    ingest_events(
        [
            _event(pricing, "form_submission", form="Pricing request"),
            _event(other, "form_submission", form="Newsletter signup"),
            _event(recycled, "form_submission", form="Contact sales"),
        ],
        by=admin,
    )
    stages = dict(Lead.objects.values_list("pk", "lifecycle_stage"))
    assert stages[pricing.pk] == stages[recycled.pk] == LifecycleStage.PROSPECT
    assert stages[other.pk] == LifecycleStage.LEAD
    reasons = list(recycled.stage_changes.order_by("at", "id").values_list("reason", flat=True))
    assert reasons[-2].startswith("Re-engaged: Contact sales form")
    IntentRule.objects.update(is_active=False)
    late = LeadFactory()
    ingest_events([_event(late, "demo_request")], by=admin)
    assert Lead.objects.get(pk=late.pk).lifecycle_stage == LifecycleStage.LEAD


# --- the sales queue ----------------------------------------------------------------------------------------------


def test_accepting_a_lead_from_the_team_queue_makes_the_rep_its_owner(rep, east, marketer):
    lead = LeadFactory(team=east)
    handoff = _prospect(lead)
    assert handoff.status == HandoffStatus.PENDING and handoff.qualified_by == QualifiedBy.SCORE
    with pytest.raises(NotAllowed):
        accept_handoff(handoff, by=marketer)
    accept_handoff(handoff, by=rep)
    handoff.refresh_from_db()
    lead.refresh_from_db()
    assert handoff.status == HandoffStatus.ACCEPTED and handoff.decided_by == rep
    assert lead.owner == rep and lead.lifecycle_stage == LifecycleStage.PROSPECT
    assert Assignment.objects.get(lead=lead).how == AssignmentHow.BY_HAND
    with pytest.raises(Conflict):
        accept_handoff(handoff, by=rep)


def test_acceptance_can_require_criteria(admin, rep):
    save_criteria(default_pipeline(), [{"kind": "authority", "required_to_accept": True}], by=admin)
    handoff = _prospect(LeadFactory(owner=rep))
    with pytest.raises(Conflict) as refused:
        accept_handoff(handoff, by=rep)
    assert refused.value.extra["missing"] == ["Authority: no decision maker identified"]


def test_rejecting_recycles_the_lead_with_the_reason(rep, other_rep):
    lead = LeadFactory(owner=rep)
    handoff = _prospect(lead)
    with pytest.raises(NotAllowed):
        reject_handoff(handoff, by=other_rep, reason="Not mine")
    with pytest.raises(InvalidInput) as error:
        reject_handoff(handoff, by=rep, reason=" ")
    assert "reason" in error.value.errors
    reject_handoff(handoff, by=rep, reason="Student project, no budget")
    lead.refresh_from_db()
    handoff.refresh_from_db()
    assert lead.lifecycle_stage == LifecycleStage.RECYCLED
    assert lead.stage_changes.order_by("-at", "-id").first().reason == "Rejected by sales: Student project, no budget"
    assert handoff.status == HandoffStatus.REJECTED and handoff.rejection_reason == "Student project, no budget"


def test_a_rep_qualifying_by_hand_has_accepted_and_converting_accepts(rep):
    by_hand = LeadFactory(owner=rep)
    transition_lead(by_hand, to=LifecycleStage.PROSPECT, by=rep)
    assert Handoff.objects.get(lead=by_hand).status == HandoffStatus.ACCEPTED
    waiting = LeadFactory(owner=rep)
    handoff = _prospect(waiting)
    convert_lead(waiting, by=rep)
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.ACCEPTED and handoff.decided_by == rep


def test_acceptance_rates_per_source_way_and_rule(admin, rep):
    accepted, rejected, waiting = (LeadFactory(owner=rep, source=s) for s in ("inbound_marketing",) * 2 + ("other",))
    accept_handoff(_prospect(accepted), by=rep)
    reject_handoff(_prospect(rejected), by=rep, reason="No need")
    _prospect(waiting)
    by_source = {row["group"]: row for row in handoff_rates(Lead.objects.all(), by="source")}
    assert by_source["inbound_marketing"]["handed"] == 2
    assert by_source["inbound_marketing"]["acceptance_rate"] == by_source["inbound_marketing"]["rejection_rate"] == 0.5
    assert by_source["other"]["waiting"] == 1 and by_source["other"]["acceptance_rate"] is None
    assert handoff_rates(Lead.objects.all(), by="qualified_by")[0]["group"] == QualifiedBy.SCORE


def test_a_lead_qualified_again_closes_its_waiting_turn_without_a_rejection(rep):
    lead = LeadFactory(owner=rep, source="inbound_marketing")
    first = _prospect(lead)
    open_handoff(lead, by=None, reason="Asked for a demo", at=timezone.now())
    first.refresh_from_db()
    assert (first.status, first.rejection_reason) == (HandoffStatus.CLOSED, "Superseded: qualified again")
    row = handoff_rates(Lead.objects.all(), by="source")[0]
    assert (row["handed"], row["rejected"], row["waiting"], row["rejection_rate"]) == (2, 0, 1, None)


# --- assignment ---------------------------------------------------------------------------------------------------


@pytest.fixture
def reps(east):
    return [UserFactory(username=f"rep{i}", role=Role.SALES, team=east) for i in range(3)]


def _unowned_prospects(count, **lead_fields):
    leads = [LeadFactory(**lead_fields) for _ in range(count)]
    for lead in leads:
        _prospect(lead)
    return leads


def _owners(leads):
    owners = dict(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("pk", "owner__username"))
    return [owners[lead.pk] for lead in leads]


def test_round_robin_takes_turns_and_skips_inactive_reps(admin, east, reps):
    reps[1].is_active = False
    reps[1].save()
    rule = create_assignment_rule(by=admin, name="East queue", team=east)
    leads = _unowned_prospects(4)
    assert _owners(leads) == ["rep0", "rep2", "rep0", "rep2"]
    assignment = Assignment.objects.filter(lead=leads[0]).get()
    assert (assignment.how, assignment.rule_name, assignment.by) == (AssignmentHow.RULE, "East queue", None)
    assert Handoff.objects.get(lead=leads[0]).assignment_rule == rule


def test_weighted_distribution_follows_the_weights(admin, east, reps):
    create_assignment_rule(
        by=admin, name="Weighted", team=east, distribution=Distribution.WEIGHTED, weights={reps[0].pk: 3}
    )
    owners = _owners(_unowned_prospects(10))
    assert {name: owners.count(name) for name in set(owners)} == {"rep0": 6, "rep1": 2, "rep2": 2}


def test_a_capped_rep_is_skipped_and_a_full_team_leaves_the_lead_in_the_queue(admin, east, reps):
    LeadFactory(owner=reps[0])  # rep0 already holds one open lead
    create_assignment_rule(by=admin, name="Capped", team=east, max_open_leads=1)
    leads = _unowned_prospects(3)
    assert _owners(leads) == ["rep1", "rep2", None]
    assert assign_waiting_leads() == {"assigned": 0, "unassigned": 1}


def test_conditions_choose_the_rule_and_the_accounts_owner_comes_first(admin, east, west, reps, other_rep):
    create_assignment_rule(by=admin, name="West enterprise", team=west, regions=["West"], min_score=40)
    create_assignment_rule(by=admin, name="Everyone else", user=reps[2])
    west_big = LeadFactory(contact=ContactFactory(account=AccountFactory(region="west")))
    LeadScore.objects.create(lead=west_big, total=55)
    west_small = LeadFactory(contact=ContactFactory(account=AccountFactory(region="West")))
    owned = LeadFactory(contact=ContactFactory(account=AccountFactory(region="West", owner=reps[1])))
    for lead in (west_big, west_small, owned):
        _prospect(lead)
    assert _owners([west_big, west_small, owned]) == ["steve", "rep2", "rep1"]
    assert Assignment.objects.get(lead=owned).how == AssignmentHow.ACCOUNT_OWNER


def test_assignment_rules_are_validated(admin, rep, east):
    with pytest.raises(NotAllowed):
        create_assignment_rule(by=rep, name="Mine", user=rep)
    with pytest.raises(InvalidInput) as error:
        create_assignment_rule(by=admin, name="Both", user=rep, team=east)
    assert "user" in error.value.errors
    with pytest.raises(InvalidInput) as error:
        create_assignment_rule(by=admin, name="Bands", team=east, employee_bands=["huge"])
    assert "employee_bands" in error.value.errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_assigners_never_assign_a_lead_twice_nor_pass_a_cap(django_db_blocker):
    """Two workers on PostgreSQL run assignment over the same waiting leads at once."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED and row locks need PostgreSQL; SQLite takes one writer at a time")
    from leadflow.users.models import Team

    team = Team.objects.create(name="Concurrent")
    admin = UserFactory(username="boss", role=Role.ADMIN)
    for i in range(4):
        UserFactory(username=f"c{i}", role=Role.SALES, team=team)
    create_assignment_rule(by=admin, name="Shared", team=team, max_open_leads=5)
    leads = [LeadFactory() for _ in range(30)]
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(lifecycle_stage=LifecycleStage.PROSPECT)
    start = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            start.wait()
            results.append(assign_waiting_leads())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(result["assigned"] for result in results) == 20  # 4 reps, 5 each
    assert Assignment.objects.count() == 20
    assert Assignment.objects.values("lead").distinct().count() == 20
    per_rep = Counter(Lead.objects.filter(owner__team=team).values_list("owner__username", flat=True))
    assert per_rep == {"c0": 5, "c1": 5, "c2": 5, "c3": 5}
    assert Lead.objects.filter(owner__isnull=True, pk__in=[lead.pk for lead in leads]).count() == 10


# --- SLAs ---------------------------------------------------------------------------------------------------------


def test_business_hours_skip_nights_and_weekends():
    hours = BusinessHours(9, 17, [0, 1, 2, 3, 4], ZoneInfo("Europe/Berlin"))
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert hours.add(friday_4pm, 1) == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 17:00 Berlin
    assert hours.add(friday_4pm, 2) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 10:00 Berlin
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert hours.add(saturday, 8) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # all of Monday
    assert hours.add(datetime(2026, 11, 23, 7, 0, tzinfo=UTC), 0.5) == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def test_hot_leads_get_one_business_hour_others_a_business_day(admin, rep):
    save_settings(by=admin, time_zone="UTC", hot_score=70)
    hot, warm = LeadFactory(owner=rep), LeadFactory(owner=rep)
    LeadScore.objects.create(lead=hot, total=80)
    friday_4_30pm = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    hot_handoff, warm_handoff = _prospect(hot, at=friday_4_30pm), _prospect(warm, at=friday_4_30pm)
    assert hot_handoff.is_hot and hot_handoff.first_touch_due_at == datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    assert not warm_handoff.is_hot and warm_handoff.first_touch_due_at == datetime(2026, 11, 30, 16, 30, tzinfo=UTC)


def test_a_missed_first_touch_is_flagged_once_and_told_to_owner_and_manager(
    admin, rep, manager, django_capture_on_commit_callbacks
):
    rep.email, manager.email = "sam@example.com", "maria@example.com"
    rep.save()
    manager.save()
    touched, untouched = LeadFactory(owner=rep), LeadFactory(owner=rep)
    for lead in (touched, untouched):
        _prospect(lead, at=MONDAY_10)
    log_activity(
        by=rep, kind=ActivityKind.CALL, subject="Intro call", lead=touched, done_at=MONDAY_10 + timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        counts = check_slas(at=MONDAY_10 + timedelta(hours=7))  # 17:00: the business day is not over
    assert counts["first_touch"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        counts = check_slas(at=MONDAY_10 + timedelta(days=1, hours=1))  # Tuesday 11:00
    assert counts == {"first_touch": 1, "decision": 2, "reassigned": 0}
    breach = SlaBreach.objects.get(kind=SlaKind.FIRST_TOUCH)
    assert breach.handoff.lead == untouched and breach.owner == rep
    assert breach.due_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert set(Notification.objects.filter(text__contains="not touched").values_list("user__username", flat=True)) == {
        "sam",
        "maria",
    }
    assert any("not touched within 8 business hours" in message.body for message in mail.outbox)
    assert Handoff.objects.get(lead=touched).first_touched_at == MONDAY_10 + timedelta(hours=2)
    assert check_slas(at=MONDAY_10 + timedelta(days=2)) == {"first_touch": 0, "decision": 0, "reassigned": 0}


def test_a_breach_can_reassign_the_lead(admin, east, reps):
    save_settings(by=admin, reassign_on_breach=True)
    create_assignment_rule(by=admin, name="East queue", team=east)
    lead = _unowned_prospects(1)[0]
    Handoff.objects.filter(lead=lead).update(first_touch_due_at=MONDAY_10)
    first_owner = Lead.objects.get(pk=lead.pk).owner
    counts = check_slas(at=MONDAY_10 + timedelta(hours=1))
    assert counts["reassigned"] == 1
    lead.refresh_from_db()
    assert lead.owner not in (None, first_owner)
    breach = SlaBreach.objects.get(kind=SlaKind.FIRST_TOUCH)
    assert breach.owner == first_owner and breach.reassigned_to == lead.owner
    assert list(Assignment.objects.filter(lead=lead).order_by("id").values_list("how", flat=True)) == [
        AssignmentHow.RULE,
        AssignmentHow.SLA_BREACH,
        AssignmentHow.RULE,
    ]


def test_sla_settings_are_validated(admin):
    with pytest.raises(InvalidInput) as error:
        save_settings(by=admin, time_zone="Mars/Olympus")
    assert "time_zone" in error.value.errors
    with pytest.raises(InvalidInput):
        save_settings(by=admin, day_starts=18, day_ends=9)
    with pytest.raises(InvalidInput):
        save_settings(by=admin, business_days=[])


def test_no_lead_lost_lists_qualified_leads_without_owner_next_step_or_timely_touch(admin, rep):
    healthy, unowned, no_step, untouched = (LeadFactory(owner=rep) for _ in range(4))
    for lead in (healthy, unowned, no_step, untouched):
        _prospect(lead, at=MONDAY_10)
    Lead.objects.filter(pk=unowned.pk).update(owner=None)
    for lead in (healthy, unowned, no_step):
        log_activity(
            by=rep, kind=ActivityKind.EMAIL, subject="Hello", lead=lead, done_at=MONDAY_10 + timedelta(hours=1)
        )
    for lead in (healthy, unowned, untouched):
        log_activity(by=rep, kind=ActivityKind.TASK, subject="Call back", lead=lead, due_at=timezone.now())
    at_risk = {lead.pk: problems_of(lead) for lead in no_lead_lost(admin, at=MONDAY_10 + timedelta(days=3))}
    assert at_risk == {
        unowned.pk: ["no owner"],
        no_step.pk: ["no next step"],
        untouched.pk: ["not touched within the SLA"],
    }
    assert list(no_lead_lost(rep, at=MONDAY_10 + timedelta(days=3)).values_list("pk", flat=True)) == [
        no_step.pk,
        untouched.pk,
    ]
