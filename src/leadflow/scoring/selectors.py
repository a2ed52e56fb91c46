"""Reads for scoring: the rules in force, the settings, a lead's score as it stands now (engagement keeps decaying
after it was stored), scores worked out without storing them (for the preview), and the hottest leads."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from leadflow.engagement.models import Event
from leadflow.history import days_between, qualified_column
from leadflow.leads.models import Lead
from leadflow.leads.selectors import leads_visible_to
from leadflow.users.models import User

from .models import LeadScore, RuleKind, ScoreChange, ScoringRule, ScoringSettings
from .rules import FIT_FIELDS, Score, add_events, fact, score_of


def scoring_settings() -> ScoringSettings:
    settings, _ = ScoringSettings.objects.get_or_create(pk=1)
    return settings


def active_rules() -> list[ScoringRule]:
    return list(ScoringRule.objects.filter(is_active=True).order_by("kind", "pk"))


def lead_facts(lead_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What the fit rules look at, per lead."""
    paths = {name: field.path for name, field in FIT_FIELDS.items()}
    rows = Lead.objects.filter(pk__in=lead_ids).values("pk", *set(paths.values()))
    return {row["pk"]: {name: fact(name, row[path]) for name, path in paths.items()} for row in rows}


def lead_events(
    lead_ids: Sequence[int], rules: list[ScoringRule], *, at: datetime
) -> dict[int, list[tuple[str, float, Any]]]:
    """The leads' events of the types the engagement rules count: (type, days before `at`, properties)."""
    engagement = [rule for rule in rules if rule.kind == RuleKind.ENGAGEMENT]
    types = {rule.event_type for rule in engagement}
    found: dict[int, list[tuple[str, float, Any]]] = defaultdict(list)
    if not types:
        return found
    # Selected by lead alone (a filter on the type steers the planner to the type index, through every lead's
    # events of that type); ages come from the database, properties only when a rule looks at them.
    age = RawSQL(days_between("%s", qualified_column(Event, "occurred_at")), (at,))
    events = Event.objects.filter(lead__in=lead_ids).annotate(days_ago=age)
    with_properties = any(rule.property_name for rule in engagement)
    columns = ("lead", "type", "days_ago", "properties") if with_properties else ("lead", "type", "days_ago")
    for row in events.values_list(*columns):
        if row[1] in types:
            found[row[0]].append((row[1], row[2], (row[3] or {}) if with_properties else {}))
    return found


def compute_scores(rules: list[ScoringRule], lead_ids: Sequence[int], *, at: datetime) -> dict[int, Score]:
    """The leads' scores under these rules from their whole history, as of `at`, without storing anything."""
    facts, events = lead_facts(lead_ids), lead_events(lead_ids, rules, at=at)
    return {
        lead: score_of(rules, facts[lead], add_events(rules, {}, at, events.get(lead, []), at=at), at=at)
        for lead in lead_ids
        if lead in facts
    }


def current_score(score: LeadScore, *, at: datetime | None = None) -> Score:
    """A stored score as it stands at `at` (now): fit as stored, engagement decayed since it was computed."""
    rules = [rule for rule in active_rules() if rule.kind == RuleKind.ENGAGEMENT]
    at = at or timezone.now()
    live = score_of(rules, {}, add_events(rules, score.decaying, score.computed_at, [], at=at), at=at)
    fit_entries = [entry for entry in score.breakdown if entry["kind"] == RuleKind.FIT]
    return Score(
        fit=score.fit,
        engagement=live.engagement,
        icp_match=score.icp_match,
        breakdown=sorted(fit_entries + live.breakdown, key=lambda entry: -abs(entry["points"])),
        decaying=live.decaying,
    )


def preview_mql(rules: list[ScoringRule], *, batch: int = 5000) -> dict[str, int]:
    """How many leads these rules would make marketing-qualified (at or over the threshold) now."""
    threshold = scoring_settings().mql_threshold
    at, reaching, ids = timezone.now(), 0, list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch):
        scores = compute_scores(rules, ids[start : start + batch], at=at)
        reaching += sum(1 for score in scores.values() if score.total >= threshold)
    return {"leads": len(ids), "mql": reaching, "threshold": threshold}


def hot_leads(user: User) -> QuerySet[LeadScore]:
    """The scores of the open leads the user may see, best first (with each lead, its contact and owner)."""
    open_leads = leads_visible_to(user).filter(lifecycle_stage__in=("lead", "prospect", "recycled"))
    return (
        LeadScore.objects.filter(lead__in=open_leads)
        .select_related("lead__contact__account", "lead__owner")
        .order_by("-total", "-lead__created_at")
    )


def lead_score_card(lead: Lead) -> dict[str, Any] | None:
    """What the lead page shows of the score: where it stands now, why, and its last few changes."""
    stored = LeadScore.objects.filter(lead=lead).first()
    if stored is None:
        return None
    return {
        "now": current_score(stored),
        "mql_at": stored.mql_at,
        "threshold": scoring_settings().mql_threshold,
        "history": list(ScoreChange.objects.filter(lead=lead).order_by("-at", "-id")[:5]),
    }


def scores_behind_rules() -> bool:
    """Whether the rules changed after every lead was last scored afresh (stored scores follow older rules)."""
    settings = scoring_settings()
    rescored = settings.rescored_at
    return LeadScore.objects.exists() and (rescored is None or rescored < settings.rules_changed_at)
