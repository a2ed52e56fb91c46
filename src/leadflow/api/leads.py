"""Leads: capture, edit, lifecycle transitions, conversion, merge and history."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from leadflow.accounts.models import Account, Seniority
from leadflow.leads import selectors, services
from leadflow.leads.models import Authority, Lead, LeadSource, LifecycleStage
from leadflow.nurture.models import Segment
from leadflow.nurture.selectors import filter_by_segment
from leadflow.pipeline import selectors as pipeline_selectors
from leadflow.pipeline.models import Pipeline, Stage
from leadflow.pipeline.services import convert_lead
from leadflow.users.models import Team, User

from .auth import current_user
from .columns import Body, Date, Flag, Id, Text
from .pagination import PageParams, page_of, paginate
from .pipeline import OpportunityOut
from .refs import resolve_ids, row, visible_row
from .statuses import may_conflict

router = Router(tags=["leads"])


class LeadFields(Body):
    company_name: Text = Field("", max_length=200)
    source: LeadSource = LeadSource.OTHER
    source_detail: Text = Field("", max_length=200)
    first_touch_channel: Text = Field("", max_length=100)
    utm_source: Text = Field("", max_length=200)
    utm_medium: Text = Field("", max_length=200)
    utm_campaign: Text = Field("", max_length=200)
    owner_id: Id | None = None
    team_id: Id | None = None
    budget_amount: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    budget_confirmed: Flag = False
    authority: Authority = Authority.UNKNOWN
    need: Text = ""
    timing_target_date: Date | None = None
    external_id: Text | None = Field(None, max_length=100)


class LeadIn(LeadFields):
    email: Text | None = Field(None, max_length=254)
    first_name: Text = Field("", max_length=100)
    last_name: Text = Field("", max_length=100)
    phone: Text = Field("", max_length=50)
    job_title: Text = Field("", max_length=200)
    seniority: Seniority | None = None
    role_function: Text = Field("", max_length=100)
    account_id: Id | None = None


class LeadOut(Schema):
    id: int
    contact_id: int
    email: str | None = Field(None, alias="contact.email")
    first_name: str = Field(..., alias="contact.first_name")
    last_name: str = Field(..., alias="contact.last_name")
    account_id: int | None = Field(None, alias="contact.account_id")
    company_name: str
    source: str
    source_detail: str
    first_touch_channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    owner_id: int | None
    team_id: int | None
    lifecycle_stage: str
    budget_amount: Decimal | None
    budget_confirmed: bool
    authority: str
    need: str
    timing_target_date: date | None
    last_activity_at: datetime | None
    merged_into_id: int | None
    external_id: str | None
    created_at: datetime
    next_stages: list[str]

    @staticmethod
    def resolve_next_stages(obj: Lead) -> list[str]:
        return selectors.manual_next_stages(obj)


class StageChangeOut(Schema):
    id: int
    from_stage: str
    to_stage: str
    at: datetime
    by_id: int | None
    reason: str


class TransitionIn(Body):
    to: LifecycleStage
    reason: Text = Field("", max_length=500)


class ConvertIn(Body):
    name: Text | None = Field(None, max_length=200)
    amount: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    currency: Text | None = Field(None, min_length=3, max_length=3)
    pipeline_id: Id | None = None
    stage_id: Id | None = None
    expected_close_date: Date | None = None


NO_OPTIONS = ConvertIn.model_validate({})  # converting with no body: the defaults


class MergeIn(Body):
    duplicate_id: Id


LEAD_REFS = {"owner_id": (User, "owner"), "team_id": (Team, "team"), "account_id": (Account, "account")}


def _lead_fields(payload: Schema, *, partial: bool) -> dict:
    fields = payload.dict(exclude_unset=partial)
    if fields.get("seniority", "") is None:
        fields["seniority"] = ""
    return resolve_ids(fields, LEAD_REFS)


@router.get("/leads", response=page_of(LeadOut))
def list_leads(
    request: HttpRequest,
    page: Query[PageParams],
    lifecycle_stage: LifecycleStage | None = None,
    source: LeadSource | None = None,
    owner_id: Id | None = None,
    unassigned: bool | None = None,
    search: Text | None = None,
    segment_id: Id | None = None,
    order: Literal["created_at", "-created_at", "last_activity_at", "-last_activity_at"] = "-created_at",
) -> dict:
    """Leads the caller may see, filtered (by a nurture segment's conditions too) and ordered, one page at a time."""
    leads = selectors.lead_list(
        current_user(request),
        lifecycle_stage=lifecycle_stage,
        source=source,
        owner_id=owner_id,
        unassigned=unassigned,
        search=search,
    )
    segment = row(Segment, segment_id, "segment_id")
    if segment is not None:
        leads = filter_by_segment(leads, segment)
    return paginate(leads.order_by(order, "-id"), page)


@router.post("/leads", response={201: LeadOut})
@may_conflict
def create_lead(request: HttpRequest, payload: LeadIn) -> Status:
    """Capture a lead; a second open lead for the same contact is a 409 naming the existing one."""
    return Status(201, services.create_lead(by=current_user(request), **_lead_fields(payload, partial=False)))


@router.get("/leads/{lead_id}", response=LeadOut)
def get_lead(request: HttpRequest, lead_id: Id) -> Lead:
    return selectors.get_lead(current_user(request), lead_id)


@router.patch("/leads/{lead_id}", response=LeadOut)
@may_conflict
def update_lead(request: HttpRequest, lead_id: Id, payload: LeadFields) -> Lead:
    user = current_user(request)
    lead = selectors.get_lead(user, lead_id)
    return services.update_lead(lead, by=user, **_lead_fields(payload, partial=True))


@router.delete("/leads/{lead_id}", response={204: None})
@may_conflict
def delete_lead(request: HttpRequest, lead_id: Id) -> Status:
    user = current_user(request)
    services.delete_lead(selectors.get_lead(user, lead_id), by=user)
    return Status(204, None)


@router.post("/leads/{lead_id}/transition", response=LeadOut)
@may_conflict
def transition_lead(request: HttpRequest, lead_id: Id, payload: TransitionIn) -> Lead:
    """Move a lead along its lifecycle; an illegal step is a 409 that says why."""
    user = current_user(request)
    lead = selectors.get_lead(user, lead_id)
    return services.transition_lead(lead, to=payload.to, by=user, reason=payload.reason)


@router.post("/leads/{lead_id}/convert", response={200: OpportunityOut, 201: OpportunityOut})
@may_conflict
def convert(request: HttpRequest, lead_id: Id, payload: ConvertIn = NO_OPTIONS) -> Status:
    """Convert a lead into an opportunity (201); converting again returns the same opportunity (200)."""
    user = current_user(request)
    lead = selectors.get_lead(user, lead_id)
    pipeline = row(Pipeline, payload.pipeline_id, "pipeline_id")
    opportunity, created = convert_lead(
        lead,
        by=user,
        name=payload.name,
        amount=payload.amount,
        currency=payload.currency,
        pipeline=pipeline,
        stage=row(Stage, payload.stage_id, "stage_id"),
        expected_close_date=payload.expected_close_date,
    )
    opportunity = pipeline_selectors.get_opportunity(user, opportunity.pk)
    return Status(201 if created else 200, opportunity)


@router.post("/leads/{lead_id}/merge", response=LeadOut)
@may_conflict
def merge(request: HttpRequest, lead_id: Id, payload: MergeIn) -> Lead:
    """Merge the duplicate lead into this one."""
    user = current_user(request)
    survivor = selectors.get_lead(user, lead_id)
    duplicate = visible_row(selectors.get_lead, user, payload.duplicate_id, "duplicate_id")
    assert duplicate is not None
    return services.merge_leads(survivor=survivor, duplicate=duplicate, by=user)


@router.get("/leads/{lead_id}/stage-changes", response=page_of(StageChangeOut))
def stage_changes(request: HttpRequest, lead_id: Id, page: Query[PageParams]) -> dict:
    """The lead's lifecycle history, oldest first."""
    lead = selectors.get_lead(current_user(request), lead_id)
    return paginate(selectors.lead_stage_changes(lead), page)
