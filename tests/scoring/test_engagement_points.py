"""The full rescore decays and sums engagement in the database; the per-event update does it in Python. Both give a
lead the same score: caps, half-lives, negative points, events not yet happened, property conditions."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from leadflow.engagement.models import Event
from leadflow.engagement.services import EventIn, ingest_events
from leadflow.scoring.models import LeadScore
from leadflow.scoring.rules import add_events, days_between, score_of
from leadflow.scoring.selectors import active_rules, compute_scores, current_score, lead_facts
from leadflow.scoring.services import create_rule, rescore_leads

from ..factories import LeadFactory

pytestmark = pytest.mark.django_db
AT = timezone.now().replace(microsecond=0)
# SQLite's date functions count whole milliseconds, so a rescore there may see an event's age up to a millisecond
# off the Python engine's (events stamped `now` have microseconds): with a 7-day half-life that moves its points by
# up to 1.15e-9 of themselves, which a tolerance of 1e-9 failed now and then.
CLOCK = math.log(2) * 0.0015 / (7 * 86400)


@pytest.fixture
def rules(marketer):
    def rule(name, event_type, points, **fields):
        return create_rule(by=marketer, name=name, kind="engagement", event_type=event_type, points=points, **fields)

    return [
        rule("Pricing page", "pricing_page_view", 10, half_life_days=7, cap=25),
        rule("Email click", "email_click", 3, half_life_days=30),
        rule("Webinar", "webinar_attendance", 8, cap=16),  # never decays
        rule("Careers page", "page_visit", -15, half_life_days=14, cap=20, property_name="page",
             property_contains="/careers"),
        rule("Docs", "page_visit", 2, half_life_days=10, property_name="page", property_contains="/DOCS"),
        rule("Trial form", "form_submission", 6, property_name="trial", property_contains="true"),
        create_rule(by=marketer, name="Everyone", kind="fit", field="source", matcher="any_of",
                    value=["inbound_marketing"], points=5),
    ]  # fmt: skip


# (type, days before AT it happened, properties)
HISTORY = [
    ("pricing_page_view", 0.0, {}),
    ("pricing_page_view", 7.0, {}),
    ("pricing_page_view", 14.0, {}),
    ("email_click", 3.3, {"campaign": "Spring"}),
    ("email_click", 41.75, {}),
    ("email_click", -0.5, {}),  # stamped a little ahead of the clock: counts in full
    ("webinar_attendance", 90.0, {}),
    ("webinar_attendance", 200.0, {}),
    ("webinar_attendance", 400.0, {}),
    ("page_visit", 0.0, {"page": "/careers/engineering"}),
    ("page_visit", 14.0, {"page": "/Careers"}),
    ("page_visit", 2.2, {"page": "/docs/api"}),
    ("page_visit", 5.0, {"page": None}),
    ("page_visit", 6.0, {"path": "/docs"}),
    ("form_submission", 1.0, {"trial": True}),
    ("form_submission", 1.0, {"trial": False}),
    ("form_submission", 1.0, {"trial": "TRUE story"}),
    ("email_open", 1.0, {}),  # no rule counts it
]


def record(lead, history, *, at=AT):
    Event.objects.bulk_create(
        Event(type=kind, occurred_at=at - timedelta(days=days), lead=lead, properties=properties)
        for kind, days, properties in history
    )


def in_python(rules, lead, *, at=AT):
    """The lead's score by the per-event engine, fed every event the lead has."""
    events = [(event.type, days_between(event.occurred_at, at), event.properties) for event in lead.events.all()]
    return score_of(rules, lead_facts([lead.pk], rules)[lead.pk], add_events(rules, {}, at, events, at=at), at=at)


def assert_same(score, other):
    assert (score.fit, score.engagement, score.total, score.breakdown) == (
        other.fit,
        other.engagement,
        other.total,
        other.breakdown,
    )
    assert score.decaying == pytest.approx(other.decaying, rel=CLOCK, abs=1e-12)


def test_the_database_sums_engagement_as_the_python_engine_does(rules):
    lead = LeadFactory()
    record(lead, HISTORY)
    rules = active_rules()
    summed = compute_scores(rules, [lead.pk], at=AT)[lead.pk]
    assert_same(summed, in_python(rules, lead))
    points = {entry["name"]: entry["points"] for entry in summed.breakdown}
    assert points == {
        "Pricing page": 17.5,  # 10 + 5 + 2.5
        "Email click": 6.9,  # 3 (from the future) + 2.78 + 1.15
        "Webinar": 16,  # 24, capped
        "Careers page": -20,  # -15 - 7.5, capped
        "Docs": 1.7,  # 2 halved for 2.2 of its 10 days; not the event with no page
        "Trial form": 12,  # true, and "TRUE story"; not false
        "Everyone": 5,
    }


def test_property_values_of_every_kind_are_judged_alike(marketer):
    create_rule(by=marketer, name="Pricing anywhere", kind="engagement", event_type="page_visit", points=1,
                property_name="page", property_contains="pricing")  # fmt: skip
    lead = LeadFactory()
    pages = ["/Pricing/Teams", 2024, 1.5, True, {"path": "/pricing"}, ["/blog", "/pricing"], None, "/blog", "ünïcode"]
    record(lead, [("page_visit", 1.0, {"page": page}) for page in pages] + [("page_visit", 1.0, {})])
    rules = active_rules()
    summed = compute_scores(rules, [lead.pk], at=AT)[lead.pk]
    assert_same(summed, in_python(rules, lead))
    assert summed.engagement == 3  # the text, the object and the list mention pricing


def test_events_scored_as_they_arrive_match_a_full_rescore(rules, rep):
    lead = LeadFactory(owner=rep, team=rep.team)
    rescore_leads([lead.pk])  # scored already: new events update the kept points
    past = [(kind, days, properties) for kind, days, properties in HISTORY if days >= 0]
    now = timezone.now()
    for start in range(0, len(past), 4):
        ingest_events(
            [
                EventIn(type=kind, occurred_at=now - timedelta(days=days), lead_id=lead.pk, properties=properties)
                for kind, days, properties in past[start : start + 4]
            ],
            by=rep,
        )
    arrived = LeadScore.objects.get(lead=lead)
    later = arrived.computed_at + timedelta(days=3)
    rescore_leads([lead.pk], at=later)
    afresh = LeadScore.objects.get(lead=lead)
    moved = current_score(arrived, at=later)
    assert_same(moved, current_score(afresh, at=later))
    assert (afresh.fit, afresh.engagement, afresh.total) == (moved.fit, moved.engagement, moved.total)
