"""Pipelines and stages, opportunities (moves, closing, re-opening) and activities."""

from datetime import date, datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from leadflow.accounts.models import Account, Contact
from leadflow.leads.selectors import get_lead
from leadflow.pipeline import selectors, services
from leadflow.pipeline.models import (
    Activity,
    ActivityKind,
    LostReason,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
    Stage,
)
from leadflow.users.models import User

from .auth import current_user
from .columns import Body, Date, DateTime, Flag, Id, Int, Text, column, omittable
from .pagination import PageParams, page_of, paginate
from .refs import resolve_ids, row, visible_row
from .statuses import may_conflict

router = Router(tags=["pipeline"])


class StageOut(Schema):
    id: int
    name: str
    order: int
    probability: int
    is_won: bool
    is_lost: bool


class PipelineOut(Schema):
    id: int
    name: str
    is_default: bool
    stages: list[StageOut]


class LostReasonOut(Schema):
    id: int
    name: str


@router.get("/pipelines", response=list[PipelineOut])
def list_pipelines(request: HttpRequest) -> list[Pipeline]:
    """Every pipeline with its stages in order."""
    return list(selectors.pipelines_with_stages())


@router.get("/lost-reasons", response=list[LostReasonOut])
def list_lost_reasons(request: HttpRequest) -> list[LostReason]:
    return list(LostReason.objects.filter(is_active=True))


class OpportunityOut(Schema):
    id: int
    name: str
    account_id: int | None
    contact_id: int | None
    lead_id: int | None
    owner_id: int | None
    team_id: int | None
    pipeline_id: int
    stage_id: int
    stage: str = Field(..., alias="stage.name")
    amount: Decimal | None
    currency: str
    probability: int
    probability_override: int | None
    expected_close_date: date | None
    is_closed: bool
    is_won: bool = Field(..., alias="stage.is_won")
    closed_at: datetime | None
    lost_reason: str | None
    review_note: str
    external_id: str | None
    created_at: datetime

    @staticmethod
    def resolve_amount(obj: Opportunity, context: dict) -> Decimal | None:
        return obj.amount if selectors.can_see_amounts(context["request"].auth) else None

    @staticmethod
    def resolve_lost_reason(obj: Opportunity) -> str | None:
        return obj.lost_reason.name if obj.lost_reason else None


class OpportunityPatch(Body):
    name: Text = omittable(max_length=200)
    account_id: Id | None = None
    contact_id: Id | None = None
    owner_id: Id | None = None
    amount: Decimal = omittable(ge=0, max_digits=14, decimal_places=2)
    currency: Text = omittable(min_length=3, max_length=3)
    expected_close_date: Date | None = None
    probability_override: Int | None = Field(None, ge=0, le=100)
    review_note: Text = ""
    external_id: Text | None = Field(None, max_length=100)


class OpportunityIn(OpportunityPatch):
    name: Text = Field(..., max_length=200)
    pipeline_id: Id | None = None
    stage_id: Id | None = None


class OpportunityStageChangeOut(Schema):
    id: int
    from_stage_id: int | None
    from_stage: str | None
    to_stage_id: int
    to_stage: str = Field(..., alias="to_stage.name")
    at: datetime
    by_id: int | None
    reason: str

    @staticmethod
    def resolve_from_stage(obj: object) -> str | None:
        stage = obj.from_stage  # type: ignore[attr-defined]
        return stage.name if stage else None


class StageMoveIn(Body):
    stage: Id = Field(..., description="Id of a stage in the opportunity's pipeline")
    reason: Text = Field("", max_length=500)
    lost_reason: Text | None = column(LostReason, "name", None, description="Required when the stage is a lost stage")
    note: Text | None = column(OpportunityStageChange, "reason", None)


class CloseIn(Body):
    won: Flag
    lost_reason: Text | None = column(LostReason, "name", None, description="Required when won is false")
    note: Text = ""


class ReopenIn(Body):
    stage: Id | None = Field(None, description="Open stage to re-open into; the one it was closed from by default")
    reason: Text = Field("", max_length=500)


OPPORTUNITY_REFS = {"account_id": (Account, "account"), "contact_id": (Contact, "contact"), "owner_id": (User, "owner")}


def _visible_opportunity(request: HttpRequest, opportunity_id: Id) -> Opportunity:
    return selectors.get_opportunity(current_user(request), opportunity_id)


def _fresh(request: HttpRequest, opportunity: Opportunity) -> Opportunity:
    return _visible_opportunity(request, opportunity.pk)


@router.get("/opportunities", response=page_of(OpportunityOut), tags=["opportunities"])
def list_opportunities(
    request: HttpRequest,
    page: Query[PageParams],
    pipeline_id: Id | None = None,
    stage_id: Id | None = None,
    owner_id: Id | None = None,
    account_id: Id | None = None,
    is_open: bool | None = None,
    search: Text | None = None,
) -> dict:
    opportunities = selectors.opportunity_list(
        current_user(request),
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        owner_id=owner_id,
        account_id=account_id,
        is_open=is_open,
        search=search,
    )
    return paginate(opportunities, page)


@router.post("/opportunities", response={201: OpportunityOut}, tags=["opportunities"])
@may_conflict
def create_opportunity(request: HttpRequest, payload: OpportunityIn) -> Status:
    fields = resolve_ids(payload.dict(exclude_unset=True), OPPORTUNITY_REFS)
    pipeline = row(Pipeline, fields.pop("pipeline_id", None), "pipeline_id")
    stage = row(Stage, fields.pop("stage_id", None), "stage_id")
    opportunity = services.create_opportunity(by=current_user(request), pipeline=pipeline, stage=stage, **fields)
    return Status(201, _fresh(request, opportunity))


@router.get("/opportunities/{opportunity_id}", response=OpportunityOut, tags=["opportunities"])
def get_opportunity(request: HttpRequest, opportunity_id: Id) -> Opportunity:
    return _visible_opportunity(request, opportunity_id)


@router.patch("/opportunities/{opportunity_id}", response=OpportunityOut, tags=["opportunities"])
@may_conflict
def update_opportunity(request: HttpRequest, opportunity_id: Id, payload: OpportunityPatch) -> Opportunity:
    opportunity = _visible_opportunity(request, opportunity_id)
    fields = resolve_ids(payload.dict(exclude_unset=True), OPPORTUNITY_REFS)
    services.update_opportunity(opportunity, by=current_user(request), **fields)
    return _fresh(request, opportunity)


@router.delete("/opportunities/{opportunity_id}", response={204: None}, tags=["opportunities"])
def delete_opportunity(request: HttpRequest, opportunity_id: Id) -> Status:
    services.delete_opportunity(_visible_opportunity(request, opportunity_id), by=current_user(request))
    return Status(204, None)


@router.post("/opportunities/{opportunity_id}/move", response=OpportunityOut, tags=["opportunities"])
@may_conflict
def move(request: HttpRequest, opportunity_id: Id, payload: StageMoveIn) -> Opportunity:
    """Move to another stage of the pipeline (a lost stage needs `lost_reason`)."""
    opportunity = _visible_opportunity(request, opportunity_id)
    stage = row(Stage, payload.stage, "stage")
    assert stage is not None
    services.move_opportunity(
        opportunity,
        stage=stage,
        by=current_user(request),
        reason=payload.reason,
        lost_reason=payload.lost_reason,
        note=payload.note,
    )
    return _fresh(request, opportunity)


@router.post("/opportunities/{opportunity_id}/close", response=OpportunityOut, tags=["opportunities"])
@may_conflict
def close(request: HttpRequest, opportunity_id: Id, payload: CloseIn) -> Opportunity:
    """Close won, or lost with a reason; closing won makes the lead a customer."""
    opportunity = _visible_opportunity(request, opportunity_id)
    services.close_opportunity(
        opportunity, won=payload.won, by=current_user(request), lost_reason=payload.lost_reason, note=payload.note
    )
    return _fresh(request, opportunity)


@router.post("/opportunities/{opportunity_id}/reopen", response=OpportunityOut, tags=["opportunities"])
@may_conflict
def reopen(request: HttpRequest, opportunity_id: Id, payload: ReopenIn) -> Opportunity:
    opportunity = _visible_opportunity(request, opportunity_id)
    stage = row(Stage, payload.stage, "stage")
    services.reopen_opportunity(opportunity, by=current_user(request), stage=stage, reason=payload.reason)
    return _fresh(request, opportunity)


@router.get(
    "/opportunities/{opportunity_id}/stage-changes",
    response=page_of(OpportunityStageChangeOut),
    tags=["opportunities"],
)
def opportunity_stage_changes(request: HttpRequest, opportunity_id: Id, page: Query[PageParams]) -> dict:
    opportunity = _visible_opportunity(request, opportunity_id)
    return paginate(selectors.opportunity_stage_changes(opportunity), page)


class ActivityPatch(Body):
    kind: ActivityKind = omittable()
    subject: Text = omittable(max_length=200)
    body: Text = ""
    due_at: DateTime | None = None
    is_done: Flag = False
    outcome: Text = Field("", max_length=100)
    owner_id: Id | None = None
    external_id: Text | None = Field(None, max_length=100)


class ActivityIn(ActivityPatch):
    kind: ActivityKind
    subject: Text = Field(..., max_length=200)
    lead_id: Id | None = None
    opportunity_id: Id | None = None


class ActivityOut(Schema):
    id: int
    kind: str
    subject: str
    body: str
    due_at: datetime | None
    is_done: bool
    done_at: datetime | None
    outcome: str
    owner_id: int | None
    lead_id: int | None
    opportunity_id: int | None
    external_id: str | None
    created_at: datetime


@router.get("/activities", response=page_of(ActivityOut), tags=["activities"])
def list_activities(
    request: HttpRequest,
    page: Query[PageParams],
    lead_id: Id | None = None,
    opportunity_id: Id | None = None,
    kind: ActivityKind | None = None,
    is_done: bool | None = None,
    owner_id: Id | None = None,
) -> dict:
    activities = selectors.activity_list(
        current_user(request),
        lead_id=lead_id,
        opportunity_id=opportunity_id,
        kind=kind,
        is_done=is_done,
        owner_id=owner_id,
    )
    return paginate(activities, page)


@router.post("/activities", response={201: ActivityOut}, tags=["activities"])
@may_conflict
def create_activity(request: HttpRequest, payload: ActivityIn) -> Status:
    user = current_user(request)
    fields = resolve_ids(payload.dict(exclude_unset=True), {"owner_id": (User, "owner")})
    lead = visible_row(get_lead, user, fields.pop("lead_id", None), "lead_id")
    opportunity = visible_row(selectors.get_opportunity, user, fields.pop("opportunity_id", None), "opportunity_id")
    return Status(201, services.log_activity(by=user, lead=lead, opportunity=opportunity, **fields))


@router.get("/activities/{activity_id}", response=ActivityOut, tags=["activities"])
def get_activity(request: HttpRequest, activity_id: Id) -> Activity:
    return selectors.get_activity(current_user(request), activity_id)


@router.patch("/activities/{activity_id}", response=ActivityOut, tags=["activities"])
@may_conflict
def update_activity(request: HttpRequest, activity_id: Id, payload: ActivityPatch) -> Activity:
    user = current_user(request)
    activity = selectors.get_activity(user, activity_id)
    fields = resolve_ids(payload.dict(exclude_unset=True), {"owner_id": (User, "owner")})
    return services.update_activity(activity, by=user, **fields)


@router.delete("/activities/{activity_id}", response={204: None}, tags=["activities"])
def delete_activity(request: HttpRequest, activity_id: Id) -> Status:
    user = current_user(request)
    services.delete_activity(selectors.get_activity(user, activity_id), by=user)
    return Status(204, None)
