"""Writes for scoring: editing the rules and the MQL threshold, scoring leads (all of them set-based, or one lead
as its events arrive) and moving a lead that reaches the threshold to prospect, once."""

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import numpy as np
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from leadflow.bulk import database_datetime, insert_rows, no_cycle_collection, one_of, upsert_rows
from leadflow.engagement.models import Event, EventType
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.history import chunks
from leadflow.jobs.models import JobStatus
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.services import record_lifecycle_change
from leadflow.users.models import User

from . import predictive
from .features import WINDOW_DAYS, activity_outcomes, build_features, model_features, topic_label
from .models import (
    ConversionModel,
    LeadPrediction,
    LeadScore,
    Matcher,
    RequestedJob,
    RescoreJob,
    RuleKind,
    ScoreChange,
    ScoringRule,
    ScoringSettings,
    TrainingJob,
)
from .rules import FIT_FIELDS, MATCHERS, NUMBER, EventPoints, Score, days_between
from .selectors import (
    CONVERSION_DAYS,
    EveryLeadBetween,
    active_rules,
    compute_scores,
    current_score,
    known_outcomes,
    lead_facts,
    of_leads,
    scores_from,
    scoring_settings,
    serving_model,
)

RULE_FIELDS = {
    "name", "kind", "field", "matcher", "value", "event_type", "property_name", "property_contains", "points", "cap",
    "half_life_days", "in_icp", "is_active",
}  # fmt: skip
LIST_MATCHERS = {Matcher.ANY_OF, Matcher.CONTAINS_ANY, Matcher.ENDS_WITH_ANY}
BATCH = 5000


def can_edit_rules(user: User) -> bool:
    """Who runs scoring: edits the rules and the threshold, rescores, trains models."""
    return user.is_admin or user.is_marketing


def ensure_can_edit_rules(user: User) -> None:
    if not can_edit_rules(user):
        raise NotAllowed("Only admins and marketing edit scoring rules.")


def _clean_rule(rule: ScoringRule) -> None:
    """Refuse a rule that could not be worked out, naming the field at fault."""
    if not rule.name.strip():
        raise InvalidInput.on("name", "Give the rule a name.")
    if rule.kind not in RuleKind.values:
        raise InvalidInput.on("kind", f"Must be one of: {', '.join(RuleKind.values)}.")
    if not isinstance(rule.points, int) or isinstance(rule.points, bool) or not -1000 <= rule.points <= 1000:
        raise InvalidInput.on("points", "A whole number from -1000 to 1000.")
    if rule.points == 0:
        raise InvalidInput.on("points", "A rule worth no points changes nothing; give it points or delete it.")
    if rule.cap is not None and (not isinstance(rule.cap, int) or rule.cap <= 0):
        raise InvalidInput.on("cap", "A positive whole number, or empty for no cap.")
    if rule.kind == RuleKind.FIT:
        _clean_fit_rule(rule)
    else:
        _clean_engagement_rule(rule)


def _clean_fit_rule(rule: ScoringRule) -> None:
    field = FIT_FIELDS.get(rule.field)
    if field is None:
        raise InvalidInput.on("field", f"Must be one of: {', '.join(FIT_FIELDS)}.")
    if rule.matcher not in MATCHERS[field.kind]:
        allowed = ", ".join(sorted(MATCHERS[field.kind]))
        raise InvalidInput.on("matcher", f"{field.label} takes one of: {allowed}.")
    if rule.matcher in LIST_MATCHERS:
        values = rule.value if isinstance(rule.value, list) else [rule.value]
        words = [item.strip() for item in values if isinstance(item, str)]
        if not words or len(words) != len(values) or not all(words):
            raise InvalidInput.on("value", "A list of one or more words or values.")
        rule.value = words
    elif rule.matcher == Matcher.EQUALS:
        if not isinstance(rule.value, str) or not str(rule.value).strip():
            raise InvalidInput.on("value", "The value to compare with.")
    elif field.kind == NUMBER:
        if isinstance(rule.value, bool) or not isinstance(rule.value, int | float):
            raise InvalidInput.on("value", "A number.")
    else:
        rule.value = None
    if rule.half_life_days is not None:
        raise InvalidInput.on("half_life_days", "Only engagement rules decay.")
    rule.event_type = rule.property_name = rule.property_contains = ""


def _clean_engagement_rule(rule: ScoringRule) -> None:
    if rule.event_type not in EventType.values:
        raise InvalidInput.on("event_type", f"Must be one of: {', '.join(EventType.values)}.")
    if bool(rule.property_name.strip()) != bool(rule.property_contains.strip()):
        field = "property_contains" if rule.property_name.strip() else "property_name"
        raise InvalidInput.on(field, "Give both the property and the text it must contain, or neither.")
    if rule.half_life_days is not None and (
        isinstance(rule.half_life_days, bool)
        or not isinstance(rule.half_life_days, int | float)
        or rule.half_life_days <= 0
    ):
        raise InvalidInput.on("half_life_days", "A positive number of days, or empty for no decay.")
    if rule.in_icp:
        raise InvalidInput.on("in_icp", "The ideal customer profile is made of fit rules.")
    rule.field, rule.matcher, rule.value = "", "", None


def _rules_changed() -> None:
    scoring_settings()  # make sure the row exists
    ScoringSettings.objects.filter(pk=1).update(rules_changed_at=timezone.now())


def _refuse_unknown(fields: dict[str, Any]) -> None:
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")


def _new_rule(fields: dict[str, Any]) -> ScoringRule:
    _refuse_unknown(fields)
    blank = dict.fromkeys(["name", "field", "matcher", "event_type", "property_name", "property_contains"], "")
    rule = ScoringRule(**{**blank, **fields})
    _clean_rule(rule)
    return rule


@transaction.atomic
def create_rule(*, by: User, **fields: Any) -> ScoringRule:
    """A new scoring rule; leads are rescored by `rescore_leads` (`queue_rescore` has the worker do it)."""
    ensure_can_edit_rules(by)
    rule = _new_rule(fields)
    rule.save()
    _rules_changed()
    return rule


def rule_fields(rule: ScoringRule) -> dict[str, Any]:
    """A saved rule's fields, as `create_rule` and `proposed_rules` take them."""
    return {name: getattr(rule, name) for name in RULE_FIELDS}


def proposed_rules(specs: list[dict[str, Any]], *, by: User) -> list[ScoringRule]:
    """A rule set checked but not saved (for the preview); a refusal names the rule by its place in the list."""
    ensure_can_edit_rules(by)
    rules = []
    for place, spec in enumerate(specs):
        try:
            rule = _new_rule(spec)
        except InvalidInput as refused:
            errors = {f"rules[{place}].{field}": messages for field, messages in refused.errors.items()}
            raise InvalidInput(refused.detail, errors=errors) from refused
        rule.pk = place + 1  # unsaved: numbered so the breakdown can tell the rules apart
        rules.append(rule)
    return [rule for rule in rules if rule.is_active]


@transaction.atomic
def update_rule(rule: ScoringRule, *, by: User, **fields: Any) -> ScoringRule:
    ensure_can_edit_rules(by)
    _refuse_unknown(fields)
    for name, value in fields.items():
        setattr(rule, name, value)
    _clean_rule(rule)
    rule.save()
    _rules_changed()
    return rule


@transaction.atomic
def delete_rule(rule: ScoringRule, *, by: User) -> None:
    ensure_can_edit_rules(by)
    rule.delete()
    _rules_changed()


def set_mql_threshold(threshold: int, *, by: User) -> ScoringSettings:
    ensure_can_edit_rules(by)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 10000:
        raise InvalidInput.on("mql_threshold", "A whole number from 1 to 10000.")
    settings = scoring_settings()
    settings.mql_threshold = threshold
    settings.save(update_fields=["mql_threshold"])
    return settings


class Kept(NamedTuple):
    """What matters of a lead's stored score when it is scored again."""

    total: float
    mql: bool  # it reached the threshold once already


def _kept(lead_ids: Sequence[int]) -> dict[int, Kept]:
    rows = LeadScore.objects.filter(of_leads(LeadScore, "lead", lead_ids)).values_list("lead", "total", "mql_at")
    return {lead: Kept(total, mql_at is not None) for lead, total, mql_at in rows}


def _save_scores(scores: dict[int, Score], before: Mapping[int, Kept], *, at: datetime, reason: str) -> None:
    """Store the scores of these leads (written over the old ones, which keep when they first qualified), add a
    history step where the total moved from what was `before`, and qualify the leads that reach the threshold."""
    moment = database_datetime(at)
    encoded: dict[tuple[int, float], str] = {}  # a rule gives the leads of a batch few distinct points

    def breakdown_json(breakdown: list[dict[str, Any]]) -> str:
        """The breakdown as JSON, each distinct entry encoded once."""
        entries = []
        for entry in breakdown:
            key = (entry["rule"], entry["points"])
            if key not in encoded:
                encoded[key] = _json(entry)
            entries.append(encoded[key])
        return f"[{','.join(entries)}]"

    upsert_rows(
        LeadScore,
        ["lead", "fit", "engagement", "total", "icp_match", "breakdown", "decaying", "computed_at"],
        (
            (lead, score.fit, score.engagement, score.total, score.icp_match, breakdown_json(score.breakdown),
             _json(score.decaying), moment)
            for lead, score in scores.items()
        ),
    )  # fmt: skip
    insert_rows(
        ScoreChange,
        ["lead", "at", "fit", "engagement", "total", "reason"],
        (
            (lead, moment, score.fit, score.engagement, score.total, reason)
            for lead, score in scores.items()
            if lead not in before or abs(before[lead].total - score.total) >= 0.5
        ),
    )
    threshold = scoring_settings().mql_threshold
    qualified = {lead for lead, kept in before.items() if kept.mql}
    reached = [lead for lead, score in scores.items() if score.total >= threshold and lead not in qualified]
    if reached:
        _qualify(reached, {lead: scores[lead].total for lead in reached}, threshold, at=at)


# Compact, and without the check for cycles a breakdown cannot have: a full rescore writes two per lead.
_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _qualify(lead_ids: list[int], totals: dict[int, float], threshold: int, *, at: datetime) -> None:
    """Mark the leads as marketing-qualified (once) and move those still at `lead` to `prospect`."""
    LeadScore.objects.filter(lead__in=lead_ids, mql_at__isnull=True).update(mql_at=at)
    for lead in Lead.objects.select_for_update().filter(pk__in=lead_ids, lifecycle_stage=LifecycleStage.LEAD):
        reason = f"Score {totals[lead.pk]:.0f} reached the MQL threshold ({threshold})"
        record_lifecycle_change(lead, to=LifecycleStage.PROSPECT, by=None, reason=reason)


def rescore_leads(
    lead_ids: Sequence[int] | None = None,
    *,
    reason: str = "Rules changed",
    progress: Callable[[int], None] | None = None,
    at: datetime | None = None,
) -> int:
    """Score these leads (every lead when None) afresh from the active rules, as of `at` (now): in batches, each
    one transaction. Returns how many were scored."""
    rules = active_rules()
    started = timezone.now()
    ids = list(lead_ids) if lead_ids is not None else list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    done = 0
    for start in range(0, len(ids), BATCH):
        part = ids[start : start + BATCH] if lead_ids is not None else EveryLeadBetween(ids[start : start + BATCH])
        moment = at or timezone.now()
        with transaction.atomic(), no_cycle_collection():
            _save_scores(compute_scores(rules, part, at=moment), _kept(part), at=moment, reason=reason)
        done += len(part)
        if progress is not None:
            progress(done)
    if lead_ids is None:
        scoring_settings()  # make sure the row exists
        ScoringSettings.objects.filter(pk=1).update(rescored_at=started)
    return done


def score_new_events(sender: object, *, events: Iterable[Event], **kwargs: Any) -> None:
    """Bring each lead with new events up to date: its kept engagement points moved to now, plus what the new
    events earn (a few rows per lead, however long its history). Connected to `events_ingested`."""
    at = timezone.now()
    by_lead: dict[int, list[tuple[str, float, Any]]] = defaultdict(list)
    for event in events:
        if event.lead_id is not None:
            by_lead[event.lead_id].append((event.type, days_between(event.occurred_at, at), event.properties or {}))
    rules = active_rules()
    if not by_lead or not any(rule.kind == RuleKind.ENGAGEMENT for rule in rules):
        return
    # The stored scores, locked; not their breakdowns, which are not read.
    stored = LeadScore.objects.select_for_update().filter(one_of(LeadScore, "lead", by_lead))
    kept = {lead: rest for lead, *rest in stored.values_list("lead", "total", "mql_at", "decaying", "computed_at")}
    unscored = [lead for lead in by_lead if lead not in kept]
    if unscored:
        rescore_leads(unscored, reason="First events")
    facts = lead_facts([lead for lead in by_lead if lead in kept], rules)
    leads = [lead for lead in by_lead if lead in kept and lead in facts]
    earned = EventPoints(rules)
    points = {lead: earned.add(kept[lead][2], kept[lead][3], by_lead[lead], at=at) for lead in leads}
    scores = scores_from(rules, facts, points, leads)
    before = {lead: Kept(kept[lead][0], kept[lead][1] is not None) for lead in leads}
    if scores:
        _save_scores(scores, before, at=at, reason=_event_reason(by_lead))


def _event_reason(by_lead: dict[int, list[tuple[str, float, Any]]]) -> str:
    kinds = sorted({EventType(event_type).label for events in by_lead.values() for event_type, _, _ in events})
    return "New events: " + ", ".join(kinds)


def score_merged_lead(sender: object, *, survivor: Lead, **kwargs: Any) -> None:
    """Score and predict the survivor of a merge afresh: the duplicate's events and answers are its own now.
    Connected to `leads_merged`."""
    rescore_leads([survivor.pk], reason="Leads merged")
    predict_leads([survivor.pk])


def queue_rescore(*, by: User) -> RescoreJob:
    """A job for the worker to score every lead afresh; a job already waiting is reused, not doubled."""
    ensure_can_edit_rules(by)
    return _queued(RescoreJob, by)


Job = TypeVar("Job", bound=RequestedJob)


def _queued(kind: type[Job], by: User | None) -> Job:
    """The job of this kind already waiting, or a new one over every lead."""
    waiting = kind._default_manager.filter(status=JobStatus.QUEUED).first()
    return waiting or kind._default_manager.create(requested_by=by, progress_total=Lead.objects.count())


def run_rescore_job(job: RescoreJob, progress: Callable[[int], None]) -> str:
    """The worker's side of `queue_rescore` (a second attempt starts over: scoring a lead again changes nothing)."""
    scored = rescore_leads(progress=progress)
    return f"{'Started over and scored' if job.attempts > 1 else 'Scored'} {scored:,} leads."


DECAY_EVERY = timedelta(days=1)


def apply_decay(*, at: datetime | None = None, limit: int = 5000) -> int:
    """Bring stored engagement points that are a day or more old down to what they are worth now (the worker's
    daily chore; a score read in between is worked out exactly anyway). Decay only lowers scores, so it neither
    qualifies a lead nor writes history. Returns how many scores moved."""
    at = at or timezone.now()
    rules = [rule for rule in active_rules() if rule.kind == RuleKind.ENGAGEMENT]
    if not any(rule.half_life_days for rule in rules):
        return 0
    stale = LeadScore.objects.filter(computed_at__lt=at - DECAY_EVERY).exclude(decaying={}).order_by("computed_at")
    moved = []
    for score in stale[:limit]:
        now = current_score(score, at=at, rules=rules)
        score.decaying, score.engagement, score.breakdown = now.decaying, now.engagement, now.breakdown
        score.total, score.computed_at = now.total, at
        moved.append(score)
    LeadScore.objects.bulk_update(moved, ["decaying", "engagement", "total", "breakdown", "computed_at"])
    return len(moved)


MIN_OUTCOMES = 200


class NotEnoughHistory(Conflict):
    """Too few leads with a known outcome (or only one kind of outcome) to learn from."""


def _known_for_training(exclude: Iterable[str]) -> dict[int, int]:
    outcomes = known_outcomes()
    exclude = list(exclude)
    held_out = set(Lead.objects.filter(external_id__in=exclude).values_list("pk", flat=True)) if exclude else set()
    known = {lead: label for lead, label in outcomes.items() if lead not in held_out}
    converted = sum(known.values())
    if len(known) < MIN_OUTCOMES or converted in (0, len(known)):
        kinds = "none converted" if converted == 0 else "all converted" if converted == len(known) else ""
        raise NotEnoughHistory(
            f"Too little history to learn from: {len(known):,} leads have a known outcome"
            f"{f' ({kinds})' if kinds and known else ''}; training needs at least {MIN_OUTCOMES}, some converted "
            f"(a customer within {CONVERSION_DAYS} days) and some not (disqualified, or every deal closed lost)."
        )
    return known


def train_model(*, by: User | None = None, exclude: Iterable[str] = (), at: datetime | None = None) -> ConversionModel:
    """Learn a conversion model from the leads with a known outcome (but those whose external id is in `exclude`,
    say an evaluation split) and keep it as a new version. Raises NotEnoughHistory instead of fitting on too little."""
    model = fit_model(by=by, exclude=exclude, at=at)
    model.save()
    return model


def fit_model(*, by: User | None = None, exclude: Iterable[str] = (), at: datetime | None = None) -> ConversionModel:
    """What `train_model` learns, not saved yet."""
    if by is not None:
        ensure_can_edit_rules(by)
    started, at = time.perf_counter(), at or timezone.now()
    known = _known_for_training(exclude)
    outcomes = activity_outcomes()
    table = build_features(sorted(known), now=at, outcomes=outcomes)
    labels = np.array([known[lead] for lead in table.lead_ids])
    categorical = [name for name in table.names if name in table.vocabularies]
    fitted = predictive.fit(table.values, labels, table.names, categorical)
    by_topic: dict[str, float] = defaultdict(float)
    for name, topic in zip(table.names, table.topics, strict=True):
        by_topic[topic] += fitted.importance[name]
    return ConversionModel(
        trained_at=at,
        trained_by=by,
        conversion_days=CONVERSION_DAYS,
        window_days=WINDOW_DAYS,
        known=len(known),
        converted=int(labels.sum()),
        training_size=fitted.training_size,
        holdout_size=fitted.holdout_size,
        roc_auc=fitted.roc_auc,
        brier=fitted.brier,
        baseline_brier=fitted.baseline_brier,
        is_good=fitted.roc_auc > 0.55 and fitted.brier < fitted.baseline_brier,
        calibration=fitted.calibration,
        importance=sorted(
            ([topic_label(topic), round(share, 4)] for topic, share in by_topic.items()), key=lambda item: -item[1]
        ),
        spec={"outcomes": outcomes, "vocabularies": table.vocabularies, "names": table.names},
        booster=fitted.booster.model_to_string(),
        calibration_map={"raw": fitted.raw, "probability": fitted.probability},
        seconds=time.perf_counter() - started,
    )


def predict_leads(
    lead_ids: Sequence[int] | None = None,
    *,
    model: ConversionModel | None = None,
    progress: Callable[[int], None] | None = None,
    at: datetime | None = None,
) -> int:
    """Each lead's probability of converting by `model` (the serving one), replacing what was kept; every lead
    when None (in one pass over the tables). Returns how many were predicted (0 without a model)."""
    model = model or serving_model()
    if model is None:
        return 0
    at = at or timezone.now()
    table = model_features(lead_ids, now=at, spec=model.spec)
    booster = predictive.load(model.booster)
    probabilities = predictive.predict(booster, table.values, **model.calibration_map).tolist()
    moment = database_datetime(at)
    with transaction.atomic():
        if lead_ids is None:
            LeadPrediction.objects.all().delete()
        else:
            for part in chunks(table.lead_ids):
                LeadPrediction.objects.filter(lead__in=part).delete()
        rows = ((*row, model.pk, moment) for row in zip(table.lead_ids, probabilities, strict=True))
        insert_rows(LeadPrediction, ["lead", "probability", "model", "computed_at"], rows)
    if progress is not None:
        progress(len(table.lead_ids))
    return len(table.lead_ids)


def queue_training(*, by: User) -> TrainingJob:
    """A job for the worker to train a model and predict every lead; a job already waiting is reused."""
    ensure_can_edit_rules(by)
    return _queued(TrainingJob, by)


def run_training_job(job: TrainingJob, progress: Callable[[int], None]) -> str:
    """The worker's side of `queue_training`. The model is kept on the job in the transaction that saves it, so a
    job cut off while predicting resumes with that model instead of training a second one."""
    model, resumed = job.model, job.model is not None
    if model is None:
        model = fit_model(by=job.requested_by)
        with transaction.atomic():
            model.save()
            TrainingJob.objects.filter(pk=job.pk).update(model=model)
    trained = f"{'Resumed with model' if resumed else 'Trained model'} v{model.pk}"
    if not model.is_good:
        return f"{trained}, but it is not good enough to serve (AUC {model.roc_auc:.3f})."
    predicted = predict_leads(model=model, progress=progress)
    return f"{trained} (AUC {model.roc_auc:.3f}, Brier {model.brier:.3f}); predicted {predicted:,}."


RETRAIN_EVERY = timedelta(days=7)


def queue_weekly_training(*, at: datetime | None = None) -> TrainingJob | None:
    """The worker's chore: a training job once a week, once at least MIN_OUTCOMES leads are decided (customers or
    disqualified: a cheap count; the job itself checks the history properly and records a refusal)."""
    at = at or timezone.now()
    if TrainingJob.objects.filter(created_at__gte=at - RETRAIN_EVERY).exists():
        return None
    decided = Lead.objects.filter(lifecycle_stage__in=(LifecycleStage.CUSTOMER, LifecycleStage.DISQUALIFIED))
    if decided.count() < MIN_OUTCOMES:
        return None
    return _queued(TrainingJob, None)


def predict_changed_leads(*, limit: int = 5000) -> int:
    """The worker's chore: predict the leads that have none yet, or did something since their prediction."""
    model = serving_model()
    if model is None:
        return 0
    stale = Lead.objects.filter(
        Q(prediction__isnull=True) | Q(last_activity_at__gt=F("prediction__computed_at"))
    ).values_list("pk", flat=True)
    ids = list(stale[:limit])
    return predict_leads(ids, model=model) if ids else 0
