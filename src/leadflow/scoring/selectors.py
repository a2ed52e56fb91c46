"""Reads for scoring: the rules in force, the settings, a lead's score as it stands now (engagement keeps decaying
after it was stored), scores worked out without storing them (for the preview), and the hottest leads."""

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Case, Count, F, FloatField, Model, Q, QuerySet, Sum, TextField, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from leadflow.bulk import one_of
from leadflow.engagement.models import Event
from leadflow.history import days_between, qualified_column
from leadflow.leads.models import Lead, LifecycleStage, StageChange
from leadflow.leads.selectors import leads_visible_to
from leadflow.pipeline.models import Opportunity
from leadflow.prepared import Prepared
from leadflow.users.models import User

from . import predictive
from .features import explain, model_features
from .models import (
    ConversionModel,
    LeadScore,
    RuleKind,
    ScoreChange,
    ScoringRule,
    ScoringSettings,
)
from .rules import (
    FIT_FIELDS,
    FitPart,
    Score,
    decayed_in_sql,
    engagement_at,
    fact,
    fit_of,
    known_fits,
    property_matches,
    scores_of,
)


def scoring_settings() -> ScoringSettings:
    settings, _ = ScoringSettings.objects.get_or_create(pk=1)
    return settings


_ACTIVE_RULES = Prepared(lambda: ScoringRule.objects.filter(is_active=True).order_by("kind", "pk"))


def active_rules() -> list[ScoringRule]:
    """The rules in force, fit before engagement (read on every scoring of new events)."""
    return _ACTIVE_RULES()


class EveryLeadBetween(list[int]):
    """Lead ids that are every lead from the first to the last (a slice of all the ids, in order): they are read by
    id range, not by a list of ids, which costs more to build and match than the rows it finds."""


def of_leads(model: type[Model], field: str, lead_ids: Sequence[int]) -> Q:
    """A filter on the model's `field` (a lead's id) for these leads."""
    if isinstance(lead_ids, EveryLeadBetween) and lead_ids:
        return Q(**{f"{field}__gte": lead_ids[0], f"{field}__lte": lead_ids[-1]})
    return Q(one_of(model, field, lead_ids))


def lead_facts(lead_ids: Sequence[int], rules: Sequence[ScoringRule]) -> dict[int, dict[str, Any]]:
    """What these rules' fit rules look at, per lead (leads with the same facts share one dict)."""
    names = sorted({rule.field for rule in rules if rule.kind == RuleKind.FIT})
    paths = [FIT_FIELDS[name].path for name in names]
    rows = Lead.objects.filter(of_leads(Lead, "id", lead_ids)).order_by().values_list("pk", *paths)
    shared: dict[tuple[Any, ...], dict[str, Any]] = {}
    facts = {}
    for pk, *raws in rows:
        same = tuple(raws)
        if same not in shared:
            shared[same] = {name: fact(name, raw) for name, raw in zip(names, raws, strict=True)}
        facts[pk] = shared[same]
    return facts


def engagement_points(
    lead_ids: Sequence[int], rules: Sequence[ScoringRule], *, at: datetime
) -> dict[int, dict[str, float]]:
    """Each lead's engagement rules' uncapped points as of `at` from its whole history, as `add_events` works them
    out, but decayed and summed in the database. A property condition is judged in Python, by the same
    `property_matches`, once per value: rows come by lead and by the value (its JSON, not the whole properties) of
    each property a rule looks at."""
    engagement = [rule for rule in rules if rule.kind == RuleKind.ENGAGEMENT]
    found: dict[int, dict[str, float]] = defaultdict(dict)
    if not engagement:
        return found
    names = sorted({rule.property_name for rule in engagement if rule.property_name})
    values = {
        f"value_{place}": Case(
            When(
                type__in=sorted({rule.event_type for rule in engagement if rule.property_name == name}),
                then=_json_at(name),
            )
        )
        for place, name in enumerate(names)
    }
    sums = {
        f"points_{place}": Sum(Case(When(type=rule.event_type, then=decayed_in_sql(rule, F("days_ago")))))
        for place, rule in enumerate(engagement)
    }
    days_ago = RawSQL(days_between("%s", qualified_column(Event, "occurred_at")), (at,), output_field=FloatField())
    # Selected by lead alone: a filter on the type steers the planner to the type index, through every lead's
    # events of that type.
    rows = (
        Event.objects.filter(of_leads(Event, "lead", lead_ids))
        .alias(days_ago=days_ago)
        .values("lead", **values)
        .annotate(**sums)
        .values_list("lead", *values, *sums)
        .order_by()
    )
    counted = [
        (str(rule.pk), rule, names.index(rule.property_name) if rule.property_name else None) for rule in engagement
    ]
    decode = cache(lambda text: None if text is None else json.loads(text))  # a property holds few values
    for lead, *cells in rows:
        points = found[lead]
        for (key, rule, value_at), earned in zip(counted, cells[len(names) :], strict=True):
            if earned is None or (value_at is not None and not property_matches(rule, decode(cells[value_at]))):
                continue
            points[key] = points.get(key, 0.0) + earned
    return found


def _json_at(name: str) -> RawSQL:
    """SQL for the JSON text of an event's property `name` ("null" or NULL when it has none): decoded, the value
    the whole properties would have held."""
    if connection.vendor == "postgresql":
        return RawSQL(f"({qualified_column(Event, 'properties')} -> %s)::text", (name,), output_field=TextField())
    # SQLite's json_extract gives true and false as 1 and 0; json_quote keeps a string's quotes and a list or object
    # as JSON.
    column, path = qualified_column(Event, "properties"), "$." + json.dumps(name)
    return RawSQL(
        f"CASE json_type({column}, %s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"ELSE json_quote(json_extract({column}, %s)) END",
        (path, path),
        output_field=TextField(),
    )


def compute_scores(rules: list[ScoringRule], lead_ids: Sequence[int], *, at: datetime) -> dict[int, Score]:
    """The leads' scores under these rules from their whole history, as of `at`, without storing anything."""
    facts, points = lead_facts(lead_ids, rules), engagement_points(lead_ids, rules, at=at)
    return scores_from(rules, facts, points, [lead for lead in lead_ids if lead in facts])


def scores_from(
    rules: list[ScoringRule],
    facts: Mapping[int, dict[str, Any]],
    points: Mapping[int, Mapping[str, float]],
    leads: Sequence[int],
) -> dict[int, Score]:
    """These leads' scores from their facts (`lead_facts`) and their engagement rules' uncapped points; leads with
    the same facts score the same fit, worked out once (`known_fits`)."""
    fit_parts = known_fits(rules)

    def fit(known: dict[str, Any]) -> FitPart:
        same = tuple(known.values())
        if same not in fit_parts:
            fit_parts[same] = fit_of(rules, known)
        return fit_parts[same]

    return dict(zip(leads, scores_of(rules, ((fit(facts[lead]), points.get(lead, {})) for lead in leads)), strict=True))


def current_score(score: LeadScore, *, at: datetime | None = None, rules: list[ScoringRule] | None = None) -> Score:
    """A stored score as it stands at `at` (now): fit as stored, engagement decayed since it was computed (by
    `rules`, the active ones when None)."""
    rules = [rule for rule in (active_rules() if rules is None else rules) if rule.kind == RuleKind.ENGAGEMENT]
    at = at or timezone.now()
    live = engagement_at(rules, score.decaying, score.computed_at, at=at)
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
    """The scores of the open leads the user may see, best first (with each lead, its contact, owner and
    predicted chance of converting)."""
    open_leads = leads_visible_to(user).filter(lifecycle_stage__in=("lead", "prospect", "recycled"))
    return (
        LeadScore.objects.filter(lead__in=open_leads)
        .select_related("lead__contact__account", "lead__owner", "lead__prediction")
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


CONVERSION_DAYS = 90


def known_outcomes(*, conversion_days: int = CONVERSION_DAYS) -> dict[int, int]:
    """{lead id: 1 if it became a customer within `conversion_days` of its creation, else 0}, for the leads whose
    story is decided: customers, disqualified leads, and leads whose every deal is closed. Open leads are left out."""
    customer, disqualified = LifecycleStage.CUSTOMER, LifecycleStage.DISQUALIFIED
    decided = set(Lead.objects.filter(lifecycle_stage__in=(customer, disqualified)).values_list("pk", flat=True))
    all_closed = (
        Opportunity.objects.values("lead")
        .annotate(open=Count("pk", filter=Q(closed_at__isnull=True)))
        .filter(open=0)
        .values_list("lead", flat=True)
    )
    decided.update(all_closed)
    quote = connection.ops.quote_name
    lead, step = quote(Lead._meta.db_table), quote(StageChange._meta.db_table)
    in_time = f"""
        SELECT DISTINCT s.lead_id FROM {step} s JOIN {lead} l ON l.id = s.lead_id
        WHERE s.to_stage = %s AND {days_between("s.at", "l.created_at")} <= %s
    """
    with connection.cursor() as cursor:
        cursor.execute(in_time, [customer, conversion_days])
        converted = {row[0] for row in cursor.fetchall()}
    return {pk: int(pk in converted) for pk in decided}


def serving_model(*, with_trees: bool = True) -> ConversionModel | None:
    """The newest good conversion model, the one predictions come from (without its trees, for showing it)."""
    models = ConversionModel.objects.all() if with_trees else conversion_models()
    return models.filter(is_good=True).first()


def conversion_models() -> QuerySet[ConversionModel]:
    """The models for showing them: everything but their trees."""
    return ConversionModel.objects.defer("booster").select_related("trained_by")


def explain_leads(lead_ids: Sequence[int], *, model: ConversionModel | None = None) -> dict[int, dict[str, Any]]:
    """For each lead, its probability of converting now and the facts that push it up or pull it down most, in
    words ({"probability", "factors": [{"text", "effect": +1/-1, "weight"}]}); empty without a serving model."""
    model = model or serving_model()
    if model is None or not lead_ids:
        return {}
    spec = model.spec
    table = model_features(lead_ids, now=timezone.now(), spec=spec)
    booster = predictive.load(model.booster)  # parsed once for both passes
    probabilities = predictive.predict(booster, table.values, **model.calibration_map)
    topics, pushes = predictive.contributions(booster, table.values, table.topics)
    members = defaultdict(list)
    for place, topic in enumerate(table.topics):
        members[topic].append(place)
    explained = {}
    for index, lead in enumerate(table.lead_ids):
        row = table.values[index]
        factors = []
        for topic, weight in predictive.strongest(pushes[index], topics):
            facts = {table.names[place]: float(row[place]) for place in members[topic]}
            text = explain(topic, facts, spec["vocabularies"], float(table.observed[index]))
            factors.append({"text": text, "effect": 1 if weight > 0 else -1, "weight": round(weight, 3)})
        explained[lead] = {"probability": float(probabilities[index]), "factors": factors, "model": model}
    return explained


EXPORT_COLUMNS = ["lead_external_id", "probability", "fit", "engagement", "total"]


def scores_for_export(*, at: datetime | None = None) -> Iterator[tuple[Any, ...]]:
    """Every lead as EXPORT_COLUMNS: its external id (its id when it has none), probability of converting, and fit,
    engagement (decayed to `at`, now) and total; blanks where it has no prediction or no score yet."""
    at = at or timezone.now()
    rules = [rule for rule in active_rules() if rule.kind == RuleKind.ENGAGEMENT]
    rows = Lead.objects.order_by("pk").values_list(
        "pk", "external_id", "prediction__probability", "score__fit", "score__decaying", "score__computed_at"
    )
    for pk, external_id, probability, fit, decaying, computed_at in rows.iterator(chunk_size=5000):
        name = external_id or str(pk)
        if fit is None:
            yield name, _rounded(probability), "", "", ""
            continue
        engagement = engagement_at(rules, decaying, computed_at, at=at).engagement
        yield name, _rounded(probability), fit, engagement, round(fit + engagement, 1)


def _rounded(probability: float | None) -> Any:
    return "" if probability is None else round(probability, 4)
