"""What a scoring rule can look at and how it is worked out: the catalogue of fit fields, the matchers each allows,
and the arithmetic of points, caps and half-lives. Plain functions over plain values, shared by the full rescore,
the per-event update, the preview and reading a score; an event's decayed points also as SQL, for the full rescore
to sum in the database."""

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Case, Expression, FloatField, Value, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Power
from django.db.models.lookups import GreaterThan

from leadflow.engagement.models import EventType

from .models import Matcher, RuleKind, ScoringRule

TEXT, FLAG, NUMBER = "text", "flag", "number"
MATCHERS = {
    TEXT: {Matcher.EQUALS, Matcher.ANY_OF, Matcher.CONTAINS_ANY, Matcher.ENDS_WITH_ANY},
    FLAG: {Matcher.IS_TRUE, Matcher.IS_FALSE},
    NUMBER: {Matcher.AT_LEAST, Matcher.BELOW},
}


@dataclass(frozen=True)
class FitField:
    label: str
    kind: str
    path: str  # where the lead's value is read from (ORM path from Lead)


FIT_FIELDS = {
    "industry": FitField("Industry", TEXT, "contact__account__industry"),
    "employee_band": FitField("Employee band", TEXT, "contact__account__employee_band"),
    "revenue_band": FitField("Revenue band", TEXT, "contact__account__revenue_band"),
    "region": FitField("Region", TEXT, "contact__account__region"),
    "country": FitField("Country", TEXT, "contact__account__country"),
    "seniority": FitField("Seniority", TEXT, "contact__seniority"),
    "role_function": FitField("Role / function", TEXT, "contact__role_function"),
    "job_title": FitField("Job title", TEXT, "contact__job_title"),
    "email_domain": FitField("Email domain", TEXT, "contact__email"),
    "do_not_contact": FitField("Do not contact", FLAG, "contact__do_not_contact"),
    "source": FitField("Lead source", TEXT, "source"),
    "first_touch_channel": FitField("First-touch channel", TEXT, "first_touch_channel"),
    "authority": FitField("Authority (BANT)", TEXT, "authority"),
    "budget_amount": FitField("Budget amount (BANT)", NUMBER, "budget_amount"),
    "budget_confirmed": FitField("Budget confirmed (BANT)", FLAG, "budget_confirmed"),
    "has_need": FitField("Need stated (BANT)", FLAG, "need"),
    "has_timing": FitField("Timing known (BANT)", FLAG, "timing_target_date"),
}


def fact(field: str, raw: Any) -> Any:
    """The value a rule compares, from what the database holds at the field's path."""
    if field == "email_domain":
        return raw.rsplit("@", 1)[-1].lower() if raw and "@" in raw else ""
    if field in ("has_need", "has_timing"):
        return bool(raw)
    if isinstance(raw, Decimal):
        return float(raw)
    return raw


def _wanted(rule: ScoringRule) -> list[str]:
    """The rule's values, lower-cased once per rule object (scoring asks for them for every lead)."""
    if "_wanted" not in rule.__dict__:
        values = rule.value if isinstance(rule.value, list) else [rule.value]
        rule.__dict__["_wanted"] = [str(item).strip().lower() for item in values]
    return rule.__dict__["_wanted"]


def fit_matches(rule: ScoringRule, facts: Mapping[str, Any]) -> bool:
    """Whether the lead's facts meet a fit rule."""
    value = facts.get(rule.field)
    if rule.matcher == Matcher.IS_TRUE:
        return bool(value)
    if rule.matcher == Matcher.IS_FALSE:
        return not value
    if rule.matcher in (Matcher.AT_LEAST, Matcher.BELOW):
        if value is None:
            return False
        limit = float(rule.value or 0)
        return float(value) >= limit if rule.matcher == Matcher.AT_LEAST else float(value) < limit
    text = str(value or "").strip().lower()
    if not text:
        return False
    wanted = _wanted(rule)
    if rule.matcher in (Matcher.EQUALS, Matcher.ANY_OF):
        return text in wanted
    if rule.matcher == Matcher.CONTAINS_ANY:
        return any(word in text for word in wanted)
    return any(text.endswith(ending) for ending in wanted)


def event_matches(rule: ScoringRule, event_type: str, properties: Mapping[str, Any]) -> bool:
    """Whether an event counts for an engagement rule."""
    if event_type != rule.event_type:
        return False
    return not rule.property_name or property_matches(rule, properties.get(rule.property_name))


def property_matches(rule: ScoringRule, value: Any) -> bool:
    """Whether an event's value of the rule's property (None when it has none) meets the rule's condition."""
    return value is not None and rule.property_contains.lower() in str(value).lower()


def decayed(points: float, rule: ScoringRule, days: float) -> float:
    """Points earned `days` ago as they stand now (halving every half-life; never growing back)."""
    if not rule.half_life_days or days <= 0:
        return points
    return points * 0.5 ** (days / rule.half_life_days)


def decayed_in_sql(rule: ScoringRule, days: Combinable) -> Expression:
    """`decayed` of the rule's points as a database expression over an event's age in `days`: the same float
    operations in the same order (POWER is C's pow, as Python's ** is), so an event of the same age earns the same
    in both."""
    points = Value(float(rule.points))
    if not rule.half_life_days:
        return points
    halved = points * Power(Value(0.5), days / Value(float(rule.half_life_days)))
    return Case(When(GreaterThan(days, 0.0), then=halved), default=points, output_field=FloatField())


def days_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


def capped(points: float, rule: ScoringRule) -> float:
    """A rule's points held within its cap, whichever their sign."""
    if rule.cap is None:
        return points
    return max(-rule.cap, min(rule.cap, points))


@dataclass(slots=True)
class Score:
    fit: int
    engagement: float
    icp_match: int | None
    breakdown: list[dict[str, Any]]
    decaying: dict[str, float]
    total: float = field(init=False)

    def __post_init__(self) -> None:
        self.total = round(self.fit + self.engagement, 1)


# A breakdown entry with what orders it: biggest points first; between equals, the rule's place among the rules.
Entry = tuple[float, int, dict[str, Any]]
FitPart = tuple[int, int | None, list[Entry]]


def fit_of(rules: Iterable[ScoringRule], facts: Mapping[str, Any]) -> FitPart:
    """A lead's fit points, ICP match (in percent) and fit breakdown entries: the part of a score that its facts
    alone decide (leads with the same facts share it)."""
    entries: list[Entry] = []
    fit, icp, icp_met = 0, 0, 0
    for place, rule in enumerate(rules):
        if rule.kind == RuleKind.FIT:
            met = fit_matches(rule, facts)
            if rule.in_icp:
                icp, icp_met = icp + 1, icp_met + met
            if met:
                points = round(capped(rule.points, rule))
                fit += points
                entries.append((-abs(points), place, _entry(rule, points)))
    return fit, round(100 * icp_met / icp) if icp else None, entries


KEPT_RULE_SETS = 2  # the rules in force, and a preview's
KEPT_FITS = 10_000  # fit parts kept under one set of rules; past that, the set starts over
_known_fits: OrderedDict[tuple[Any, ...], dict[tuple[Any, ...], FitPart]] = OrderedDict()


def known_fits(rules: Sequence[ScoringRule]) -> dict[tuple[Any, ...], FitPart]:
    """The fit parts this process worked out under rules like these, by the facts (their values, in the order of
    `lead_facts`) they came from, for the caller to add to. A fit part is `fit_of` those rules and facts alone, and
    a lead's facts come back with its next events: a batch of events finds its leads' fits here instead of working
    them out while it holds the write lock. Rules are alike when all that `fit_of` reads of them is."""
    key = tuple(
        (rule.pk, rule.kind)
        if rule.kind != RuleKind.FIT
        else (rule.pk, rule.kind, rule.name, rule.field, rule.matcher, json.dumps(rule.value), rule.points,
              rule.cap, rule.in_icp)
        for rule in rules
    )  # fmt: skip
    fits = _known_fits.pop(key, None)
    _known_fits[key] = fits = {} if fits is None or len(fits) > KEPT_FITS else fits
    while len(_known_fits) > KEPT_RULE_SETS:
        _known_fits.popitem(last=False)
    return fits


def _entry(rule: ScoringRule, points: float) -> dict[str, Any]:
    return {"rule": rule.id, "name": rule.name, "kind": rule.kind, "points": points}


def scores_of(rules: Sequence[ScoringRule], leads: Iterable[tuple[FitPart, Mapping[str, float]]]) -> Iterator[Score]:
    """Each lead's score from its `fit_of` and its engagement rules' uncapped points, the rules sorted out once for
    all the leads."""
    engagement = [(place, str(rule.pk), rule) for place, rule in enumerate(rules) if rule.kind != RuleKind.FIT]
    for (fit, icp_match, fit_entries), decaying in leads:
        entries = list(fit_entries)  # the fit part may be shared by other leads: added to on a copy
        earned_in_all = 0.0
        for place, key, rule in engagement:
            if points := decaying.get(key):
                earned = round(capped(points, rule), 1)
                earned_in_all += earned
                entries.append((-abs(earned), place, _entry(rule, earned)))
        entries.sort()
        yield Score(
            fit=fit,
            engagement=round(earned_in_all, 1),
            icp_match=icp_match,
            breakdown=[entry for _, _, entry in entries],
            decaying={key: value for key, value in decaying.items() if value},
        )


def score_of(
    rules: Iterable[ScoringRule], facts: Mapping[str, Any], decaying: Mapping[str, float], *, at: datetime
) -> Score:
    """A lead's score from its facts and its engagement rules' uncapped points as of `at`."""
    rules = list(rules)
    return next(scores_of(rules, [(fit_of(rules, facts), decaying)]))


def engagement_at(
    rules: Iterable[ScoringRule], decaying: Mapping[str, float], since: datetime, *, at: datetime
) -> Score:
    """The engagement part of a score kept as of `since`, as it stands at `at` (no fit rules, no new events)."""
    return score_of(rules, {}, add_events(rules, decaying, since, [], at=at), at=at)


def add_events(
    rules: Iterable[ScoringRule],
    decaying: Mapping[str, float],
    since: datetime,
    events: Iterable[tuple[str, float, Mapping[str, Any]]],
    *,
    at: datetime,
) -> dict[str, float]:
    """Engagement rules' uncapped points moved from `since` to `at`, plus what these events (type, days before
    `at` it happened, properties) earn, each decayed from when it happened."""
    return EventPoints(rules).add(decaying, since, events, at=at)


class EventPoints:
    """`add_events` under these rules, sorted out once for the many leads of a batch of events."""

    def __init__(self, rules: Iterable[ScoringRule]) -> None:
        self.engagement = [(str(rule.id), rule) for rule in rules if rule.kind == RuleKind.ENGAGEMENT]
        self.by_type: dict[str, list[tuple[str, ScoringRule]]] = {}  # an event is tried against its type's rules
        for key, rule in self.engagement:
            self.by_type.setdefault(rule.event_type, []).append((key, rule))

    def add(
        self,
        decaying: Mapping[str, float],
        since: datetime,
        events: Iterable[tuple[str, float, Mapping[str, Any]]],
        *,
        at: datetime,
    ) -> dict[str, float]:
        elapsed = days_between(since, at)
        moved = {key: decayed(decaying[key], rule, elapsed) for key, rule in self.engagement if decaying.get(key)}
        for event_type, days_ago, properties in events:
            for key, rule in self.by_type.get(event_type, ()):
                if event_matches(rule, event_type, properties):
                    moved[key] = moved.get(key, 0.0) + decayed(rule.points, rule, days_ago)
        return moved


def describe_rule(rule: ScoringRule) -> str:
    """The rule's condition in a line ("Seniority is any of vp, c_suite"; "Pricing page view, halves every 14 days,
    at most 30")."""
    if rule.kind == RuleKind.FIT:
        field = FIT_FIELDS[rule.field].label if rule.field in FIT_FIELDS else rule.field
        matcher = Matcher(rule.matcher).label if rule.matcher in Matcher.values else rule.matcher
        value = ", ".join(map(str, rule.value)) if isinstance(rule.value, list) else rule.value
        return f"{field} {matcher}{f' {value}' if value not in (None, '') else ''}"
    parts = [EventType(rule.event_type).label if rule.event_type in EventType.values else rule.event_type]
    if rule.property_name:
        parts[0] += f" where {rule.property_name} contains “{rule.property_contains}”"
    if rule.half_life_days:
        parts.append(f"halves every {rule.half_life_days:g} days")
    if rule.cap:
        parts.append(f"at most {rule.cap}")
    return ", ".join(parts)
