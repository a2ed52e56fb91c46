"""Rule-based lead scoring: each rule kind, caps, decay, negative rules, the breakdown, the MQL step (once)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from leadflow.engagement.services import EventIn, ingest_events
from leadflow.errors import InvalidInput, NotAllowed
from leadflow.leads.models import StageChange
from leadflow.leads.services import merge_leads
from leadflow.scoring.models import LeadScore, ScoreChange, ScoringRule
from leadflow.scoring.rules import add_events, fit_matches, score_of
from leadflow.scoring.selectors import current_score, preview_mql
from leadflow.scoring.services import (
    apply_decay,
    create_rule,
    delete_rule,
    rescore_leads,
    set_mql_threshold,
    update_rule,
)

from ..factories import AccountFactory, ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db
NOW = timezone.now()


@pytest.mark.parametrize(
    ("field", "matcher", "value", "facts", "expected"),
    [
        ("industry", "equals", "Software", {"industry": "software"}, True),
        ("industry", "any_of", ["Retail", "Software"], {"industry": "Logistics"}, False),
        ("job_title", "contains_any", ["finance", "CFO"], {"job_title": "VP Finance"}, True),
        ("email_domain", "ends_with_any", [".edu"], {"email_domain": "mit.edu"}, True),
        ("budget_confirmed", "is_true", None, {"budget_confirmed": False}, False),
        ("do_not_contact", "is_false", None, {"do_not_contact": False}, True),
        ("budget_amount", "at_least", 10000, {"budget_amount": 12000.0}, True),
        ("budget_amount", "below", 10000, {"budget_amount": None}, False),
    ],
)
def test_each_fit_matcher(field, matcher, value, facts, expected):
    rule = ScoringRule(kind="fit", field=field, matcher=matcher, value=value, points=10)
    assert fit_matches(rule, facts) is expected


def engagement_rule(**fields):
    return ScoringRule(pk=fields.pop("pk", 1), kind="engagement", event_type="email_click", points=5, **fields)


def test_an_events_points_halve_every_half_life():
    rule = engagement_rule(half_life_days=7)
    points = add_events([rule], {}, NOW, [("email_click", 14.0, {})], at=NOW)
    assert points == {"1": pytest.approx(1.25)}  # 5 points, two half-lives ago


def test_a_property_condition_and_a_cap():
    rule = engagement_rule(property_name="page", property_contains="/pricing", cap=8)
    events = [("email_click", 0.0, {"page": "/pricing/teams"})] * 3 + [("email_click", 0.0, {"page": "/blog"})]
    decaying = add_events([rule], {}, NOW, events, at=NOW)
    assert decaying == {"1": 15}  # three pricing clicks; the cap applies when the score is read
    assert score_of([rule], {}, decaying, at=NOW).engagement == 8


@pytest.fixture
def rules(marketer):
    set_mql_threshold(30, by=marketer)
    return {
        "vp": create_rule(by=marketer, name="VP or C-level", kind="fit", field="seniority", matcher="any_of",
                          value=["vp", "c_level"], points=15, in_icp=True),
        "industry": create_rule(by=marketer, name="Software company", kind="fit", field="industry",
                                matcher="equals", value="Software", points=10, in_icp=True),
        "free_mail": create_rule(by=marketer, name="Free-mail address", kind="fit", field="email_domain",
                                 matcher="any_of", value=["gmail.com"], points=-20),
        "pricing": create_rule(by=marketer, name="Pricing page", kind="engagement", event_type="pricing_page_view",
                               points=10, half_life_days=14, cap=30),
    }  # fmt: skip


def vp_lead(rep, **contact):
    contact = ContactFactory(seniority="vp", account=AccountFactory(industry="Logistics"), **contact)
    return LeadFactory(contact=contact, owner=rep, team=rep.team)


def view_pricing(rep, lead, times=1, at=None):
    at = at or timezone.now()
    ingest_events([EventIn(type="pricing_page_view", occurred_at=at, lead_id=lead.pk)] * times, by=rep)


def test_a_score_carries_its_breakdown_and_icp_match(rules, rep):
    lead = vp_lead(rep)
    rescore_leads([lead.pk])
    score = LeadScore.objects.get(lead=lead)
    assert (score.fit, score.engagement, score.total, score.icp_match) == (15, 0, 15, 50)
    assert score.breakdown == [{"rule": rules["vp"].pk, "name": "VP or C-level", "kind": "fit", "points": 15}]


def test_a_negative_rule_takes_points_away(rules, rep):
    lead = vp_lead(rep, email="pat@gmail.com")
    rescore_leads([lead.pk])
    assert LeadScore.objects.get(lead=lead).fit == -5


def test_an_event_updates_the_score_at_once_and_the_history_says_why(rules, rep):
    lead = vp_lead(rep)
    rescore_leads([lead.pk])
    view_pricing(rep, lead)
    score = LeadScore.objects.get(lead=lead)
    assert (score.engagement, score.total) == (10, 25)
    assert ScoreChange.objects.filter(lead=lead).first().reason == "New events: Pricing page view"


def test_reaching_the_mql_threshold_makes_a_prospect_once(rules, rep, marketer):
    lead = vp_lead(rep)
    view_pricing(rep, lead, times=2)  # 15 fit + 20 engagement ≥ 30
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "prospect"
    step = StageChange.objects.get(lead=lead, to_stage="prospect")
    assert step.reason == "Score 35 reached the MQL threshold (30)"
    view_pricing(rep, lead)
    delete_rule(rules["pricing"], by=marketer)
    rescore_leads([lead.pk])  # falls to 15: never silently demoted, never qualified twice
    lead.refresh_from_db()
    assert (
        lead.lifecycle_stage == "prospect" and StageChange.objects.filter(lead=lead, to_stage="prospect").count() == 1
    )


def test_a_fit_worked_out_before_is_worked_out_again_once_a_rule_changes(rules, rep, marketer):
    lead = vp_lead(rep)
    view_pricing(rep, lead)  # the fit part of these facts under these rules is kept for the next batch
    update_rule(rules["vp"], by=marketer, name="Senior buyer", points=12)
    view_pricing(rep, lead)
    score = LeadScore.objects.get(lead=lead)
    assert score.fit == 12 and {"rule": rules["vp"].pk, "name": "Senior buyer", "kind": "fit", "points": 12} in (
        score.breakdown
    )
    update_rule(rules["vp"], by=marketer, value=["c_level"])
    view_pricing(rep, lead)
    assert LeadScore.objects.get(lead=lead).fit == 0


def test_engagement_keeps_decaying_after_it_was_stored(rules, rep):
    lead = vp_lead(rep)
    view_pricing(rep, lead)
    score = LeadScore.objects.get(lead=lead)
    later = current_score(score, at=score.computed_at + timedelta(days=14))
    assert later.engagement == 5 and later.fit == 15


def test_rules_changes_rescore_everyone_and_preview_counts_mqls(rules, rep, marketer):
    leads = [vp_lead(rep) for _ in range(3)]
    assert rescore_leads() == 3
    assert LeadScore.objects.filter(total=15).count() == 3
    generous = ScoringRule(pk=99, kind="fit", name="Everyone", field="source", matcher="any_of",
                           value=["inbound_marketing"], points=20)  # fmt: skip
    assert preview_mql([*rules.values(), generous]) == {"leads": 3, "mql": 3, "threshold": 30}
    assert LeadScore.objects.filter(lead__in=leads, total=15).count() == 3  # the preview wrote nothing


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "fit", "field": "shoe_size", "matcher": "equals", "value": "9"}, "field"),
        ({"kind": "fit", "field": "industry", "matcher": "at_least", "value": 3}, "matcher"),
        ({"kind": "fit", "field": "industry", "matcher": "any_of", "value": []}, "value"),
        ({"kind": "engagement", "event_type": "telepathy"}, "event_type"),
        ({"kind": "engagement", "event_type": "email_open", "half_life_days": -1}, "half_life_days"),
        ({"kind": "engagement", "event_type": "email_open", "property_name": "page"}, "property_contains"),
        ({"kind": "engagement", "event_type": "email_open", "points": 0}, "points"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_naming_the_field(marketer, fields, field):
    with pytest.raises(InvalidInput) as refused:
        create_rule(by=marketer, **{"name": "Rule", "points": 5, **fields})
    assert field in refused.value.errors


def test_sales_cannot_edit_rules(rep):
    with pytest.raises(NotAllowed):
        create_rule(by=rep, name="Mine", kind="engagement", event_type="email_open", points=5)


def test_the_score_command_scores_every_lead(rules, rep):
    vp_lead(rep)
    out = StringIO()
    call_command("score", "--all", stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("Scored 1 leads") and LeadScore.objects.get().total == 15
    with pytest.raises(CommandError, match="No lead 999"):
        call_command("score", "--lead", "999")


def test_the_worker_applies_decay_to_stored_scores_daily(rules, rep):
    lead = vp_lead(rep)
    view_pricing(rep, lead)
    stored = LeadScore.objects.get(lead=lead)
    assert apply_decay() == 0  # fresh today: nothing to do
    assert apply_decay(at=stored.computed_at + timedelta(days=14)) == 1
    stored.refresh_from_db()
    assert (stored.fit, stored.engagement, stored.total) == (15, 5, 20)
    assert [entry["points"] for entry in stored.breakdown] == [15, 5]


def test_merging_two_scored_leads_rescores_the_survivor_with_the_duplicates_events(rules, rep):
    survivor, duplicate = vp_lead(rep), vp_lead(rep)
    rescore_leads([survivor.pk])
    view_pricing(rep, duplicate)  # the duplicate's score: 15 fit + 10 engagement
    merge_leads(survivor=survivor, duplicate=duplicate, by=rep)
    survivor_score = LeadScore.objects.get(lead=survivor)
    assert (survivor_score.engagement, survivor_score.total) == (10, 25)
    assert LeadScore.objects.filter(lead=duplicate).exists()  # the duplicate keeps its own score
