"""Scoring: the rules and the MQL threshold (admins and marketing write them), a preview of what a rule set would
qualify, the rescore job, each lead's score with the breakdown that explains it; conversion models, training, and
each lead's predicted probability with its factors."""

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status

from leadflow.engagement.models import EventType
from leadflow.errors import NotAllowed
from leadflow.leads.selectors import get_lead
from leadflow.scoring import selectors, services
from leadflow.scoring.models import (
    LeadScore,
    Matcher,
    RescoreJob,
    RuleKind,
    ScoringRule,
    ScoringSettings,
    TrainingJob,
)

from .auth import current_user
from .columns import Body, Flag, Id, Int, JsonValue, Number, Text, column, omittable
from .pagination import PageParams, page_of, paginate

router = Router(tags=["scoring"])


R = ScoringRule
POINTS = {"ge": -1000, "le": 1000}  # the service's bounds: a rule never outweighs the whole scale


class RuleIn(Body):
    name: Text = column(R, "name")
    kind: RuleKind
    field: Text = column(R, "field", "")
    matcher: Matcher | None = None
    value: JsonValue = None
    event_type: EventType | None = None
    property_name: Text = column(R, "property_name", "")
    property_contains: Text = column(R, "property_contains", "")
    points: Int = column(R, "points", **POINTS)
    cap: Int | None = column(R, "cap", None)
    half_life_days: Number | None = column(R, "half_life_days", None, gt=0)
    in_icp: Flag = False
    is_active: Flag = True


class RulePatch(Body):
    name: Text = column(R, "name", None)
    field: Text = column(R, "field", None)
    matcher: Matcher | None = None
    value: JsonValue = None
    event_type: EventType | None = None
    property_name: Text = column(R, "property_name", None)
    property_contains: Text = column(R, "property_contains", None)
    points: Int = column(R, "points", None, **POINTS)
    cap: Int | None = column(R, "cap", None)
    half_life_days: Number | None = column(R, "half_life_days", None, gt=0)
    in_icp: Flag = omittable()
    is_active: Flag = omittable()


class RuleOut(Schema):
    id: int
    name: str
    kind: str
    field: str
    matcher: str
    value: Any
    event_type: str
    property_name: str
    property_contains: str
    points: int
    cap: int | None
    half_life_days: float | None
    in_icp: bool
    is_active: bool


class ScoringSettingsIO(Body):
    mql_threshold: Int = column(ScoringSettings, "mql_threshold", ge=1, le=10000)


class PreviewIn(Body):
    rules: list[RuleIn]


class PreviewOut(Schema):
    leads: int
    mql: int
    threshold: int


class JobOut(Schema):
    id: int
    status: str
    progress: int
    progress_total: int | None
    message: str


class BreakdownEntry(Schema):
    rule: int
    name: str
    kind: str
    points: float


class ScoreOut(Schema):
    lead_id: int
    fit: int
    engagement: float
    total: float
    icp_match: int | None
    breakdown: list[BreakdownEntry]
    computed_at: datetime
    mql_at: datetime | None


def _fields(payload: Schema, *, unset: bool) -> dict[str, Any]:
    fields = payload.dict(exclude_unset=unset)
    for name in ("matcher", "event_type"):  # an empty choice arrives as None; the model stores ""
        if name in fields and fields[name] is None:
            fields[name] = ""
    return fields


def _ensure_reads_rules(request: HttpRequest) -> None:
    """Scoring rules and settings are marketing's and the admins' (docs/permissions.md)."""
    if not services.can_edit_rules(current_user(request)):
        raise NotAllowed("Only admins and marketing see the scoring rules.")


@router.get("/scoring/rules", response=page_of(RuleOut))
def list_rules(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    _ensure_reads_rules(request)
    return paginate(ScoringRule.objects.order_by("kind", "name", "pk"), page)


@router.post("/scoring/rules", response={201: RuleOut})
def create_rule(request: HttpRequest, payload: RuleIn) -> Status:
    """A new rule; `POST /scoring/rescore` then scores everyone with it."""
    return Status(201, services.create_rule(by=current_user(request), **_fields(payload, unset=False)))


@router.patch("/scoring/rules/{rule_id}", response=RuleOut)
def update_rule(request: HttpRequest, rule_id: Id, payload: RulePatch) -> ScoringRule:
    rule = get_object_or_404(ScoringRule, pk=rule_id)
    return services.update_rule(rule, by=current_user(request), **_fields(payload, unset=True))


@router.delete("/scoring/rules/{rule_id}", response={204: None})
def delete_rule(request: HttpRequest, rule_id: Id) -> Status:
    services.delete_rule(get_object_or_404(ScoringRule, pk=rule_id), by=current_user(request))
    return Status(204, None)


@router.get("/scoring/settings", response=ScoringSettingsIO)
def get_settings(request: HttpRequest) -> Any:
    _ensure_reads_rules(request)
    return selectors.scoring_settings()


@router.put("/scoring/settings", response=ScoringSettingsIO)
def put_settings(request: HttpRequest, payload: ScoringSettingsIO) -> Any:
    return services.set_mql_threshold(payload.mql_threshold, by=current_user(request))


@router.post("/scoring/preview", response=PreviewOut)
def preview(request: HttpRequest, payload: PreviewIn) -> dict[str, int]:
    """How many leads this rule set would make marketing-qualified now; nothing is saved."""
    rules = services.proposed_rules([_fields(rule, unset=False) for rule in payload.rules], by=current_user(request))
    return selectors.preview_mql(rules)


@router.post("/scoring/rescore", response={202: JobOut})
def rescore(request: HttpRequest) -> Status:
    """Queue scoring every lead afresh (the worker runs it); poll the job for progress."""
    return Status(202, services.queue_rescore(by=current_user(request)))


@router.get("/scoring/rescore/{job_id}", response=JobOut)
def rescore_job(request: HttpRequest, job_id: Id) -> RescoreJob:
    return get_object_or_404(RescoreJob, pk=job_id)


@router.get("/leads/{lead_id}/score", response=ScoreOut, tags=["leads"])
def lead_score(request: HttpRequest, lead_id: Id) -> dict[str, Any]:
    """The lead's score as it stands now (engagement decays between events) and why."""
    lead = get_lead(current_user(request), lead_id)
    stored = get_object_or_404(LeadScore, lead=lead)
    score = selectors.current_score(stored)
    return {
        "lead_id": lead.pk,
        "fit": score.fit,
        "engagement": score.engagement,
        "total": score.total,
        "icp_match": score.icp_match,
        "breakdown": score.breakdown,
        "computed_at": stored.computed_at,
        "mql_at": stored.mql_at,
    }


class ModelOut(Schema):
    id: int
    trained_at: datetime
    conversion_days: int
    window_days: int
    known: int
    converted: int
    training_size: int
    holdout_size: int
    roc_auc: float
    brier: float
    baseline_brier: float
    is_good: bool
    calibration: list[list[float]]
    importance: list[list[Any]]
    seconds: float


class FactorOut(Schema):
    text: str
    effect: int
    weight: float


class PredictionOut(Schema):
    lead_id: int
    probability: float
    model: int
    factors: list[FactorOut]


@router.get("/scoring/models", response=page_of(ModelOut))
def list_models(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Conversion models, newest first, with their held-out metrics (predictions come from the newest good one)."""
    return paginate(selectors.conversion_models(), page)


@router.get("/scoring/models/{model_id}", response=ModelOut)
def get_model(request: HttpRequest, model_id: Id) -> Any:
    return get_object_or_404(selectors.conversion_models(), pk=model_id)


@router.post("/scoring/train", response={202: JobOut})
def train(request: HttpRequest) -> Status:
    """Queue training a conversion model and predicting every lead with it (the worker runs it); poll the job.
    With too little history the job fails with a message that says so."""
    return Status(202, services.queue_training(by=current_user(request)))


@router.get("/scoring/train/{job_id}", response=JobOut)
def training_job(request: HttpRequest, job_id: Id) -> TrainingJob:
    return get_object_or_404(TrainingJob, pk=job_id)


@router.get("/leads/{lead_id}/prediction", response=PredictionOut, tags=["leads"])
def lead_prediction(request: HttpRequest, lead_id: Id) -> dict[str, Any]:
    """The lead's probability of converting now and the facts that push it up (+1) or pull it down (-1) most."""
    lead = get_lead(current_user(request), lead_id)
    explained = selectors.explain_leads([lead.pk]).get(lead.pk)
    if explained is None:
        raise Http404("No conversion model is trained yet: POST /scoring/train.")
    return {"lead_id": lead.pk, **explained, "model": explained["model"].pk}
