"""Nurture (marketing and admins): segments with their live members, email templates with a preview for a lead,
sequences with their steps and figures, enrolment by hand, what the mail system reports back about an email, and
the suppression list."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from leadflow.nurture import selectors, services
from leadflow.nurture.models import Delivery, EmailTemplate, ExitWhen, Segment, Sequence, Step, StepKind, Suppression
from leadflow.users.models import User

from .auth import current_user
from .columns import Body, DateTime, Flag, Id, Int, JsonValue, Text, column, omittable
from .pagination import PageParams, page_of, paginate
from .refs import resolve_ids
from .statuses import may_conflict

router = Router(tags=["nurture"])


def _nurturer(request: HttpRequest) -> User:
    """The signed-in user, if they may work on nurture (reads too: campaigns are marketing's)."""
    user = current_user(request)
    services.ensure_can_nurture(user)
    return user


class SegmentIn(Body):
    name: Text = column(Segment, "name")
    description: Text = column(Segment, "description", "")
    match: Literal["all", "any"] = Field("all", description="all: every condition; any: one of them")
    conditions: list[JsonValue] = Field([], description="See nurture.segments: {field, op, value, …} each")


class SegmentPatch(Body):
    name: Text = omittable(max_length=200)
    description: Text = column(Segment, "description", None)
    match: Literal["all", "any"] = omittable()
    conditions: list[JsonValue] = omittable()


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    match: str
    conditions: list[Any]
    created_at: datetime
    updated_at: datetime


class MemberOut(Schema):
    id: int
    name: str
    company_name: str
    lifecycle_stage: str
    owner_id: int | None

    @staticmethod
    def resolve_name(lead: Any) -> str:
        return str(lead.contact)


class SegmentPreviewOut(Schema):
    count: int
    leads: list[MemberOut] = Field(..., alias="sample")


BODY = "HTML with merge fields: {{ contact.first_name }}, {{ unsubscribe_url }} …"


class TemplateIn(Body):
    name: Text = column(EmailTemplate, "name")
    subject: Text = column(EmailTemplate, "subject")
    body: Text = column(EmailTemplate, "body", description=BODY)


class TemplatePatch(Body):
    name: Text = column(EmailTemplate, "name", None)
    subject: Text = column(EmailTemplate, "subject", None)
    body: Text = column(EmailTemplate, "body", None, description=BODY)


class TemplateOut(Schema):
    id: int
    name: str
    subject: str
    body: str
    created_at: datetime
    updated_at: datetime


class TemplatePreviewIn(Body):
    lead_id: Id


class TemplatePreviewOut(Schema):
    subject: str
    html: str
    text: str


class SequenceIn(Body):
    name: Text = column(Sequence, "name")
    segment_id: Id | None = Field(None, description="Its leads are enrolled as they enter it")
    exit_when: list[ExitWhen] = []
    allow_reentry: Flag = False
    reentry_after_days: Int | None = column(Sequence, "reentry_after_days", None)


class SequencePatch(Body):
    name: Text = omittable(max_length=200)
    segment_id: Id | None = None
    exit_when: list[ExitWhen] = omittable()
    allow_reentry: Flag = omittable()
    reentry_after_days: Int | None = column(Sequence, "reentry_after_days", None)
    is_active: Flag = omittable(description="Start (true, once it has a step) or stop (false)")


class SequenceOut(Schema):
    id: int
    name: str
    segment_id: int | None
    is_active: bool
    exit_when: list[str]
    allow_reentry: bool
    reentry_after_days: int | None
    created_at: datetime


class StepIn(Body):
    kind: StepKind
    config: dict[str, JsonValue] = Field({}, description="By kind; see the Step model")
    template_id: Id | None = None
    variant_template_id: Id | None = Field(None, description="An A/B test: the B variant")
    test_metric: Literal["open", "click", "reply"] = "open"
    test_deadline: DateTime | None = None


class StepOut(Schema):
    id: int
    position: int
    kind: str
    config: dict[str, Any]
    template_id: int | None
    variant_template_id: int | None
    test_metric: str
    test_deadline: datetime | None
    winner: str
    decided_at: datetime | None
    decision: str


class StepFiguresOut(Schema):
    position: int = Field(..., alias="step__position")
    variant: str
    queued: int
    sent: int
    suppressed: int
    opened: int
    clicked: int
    replied: int


class StatsOut(Schema):
    enrolled: int
    active: int
    completed: int
    exited: int
    became_prospect: int
    became_opportunity: int
    steps: list[StepFiguresOut]


class SequenceDetailOut(SequenceOut):
    steps: list[StepOut]
    stats: StatsOut

    @staticmethod
    def resolve_steps(sequence: Sequence) -> list[Step]:
        return list(sequence.steps.all())

    @staticmethod
    def resolve_stats(sequence: Sequence) -> dict[str, Any]:
        return selectors.sequence_stats(sequence)


class PreviewParams(Schema):
    limit: int = Field(10, ge=0, le=100, description="How many of the leads to list")


class EnrolIn(Body):
    lead_ids: list[Id]


class EnrolOut(Schema):
    enrolled: int = Field(..., description="Those already in it, or kept out by the re-entry rule, are skipped")


class OutcomeIn(Body):
    outcome: str = Field(..., description="replied, bounced or complained (the last two suppress the address)")


class DeliveryOut(Schema):
    id: int
    lead_id: int
    step_id: int
    to_email: str
    variant: str
    status: str
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    replied_at: datetime | None
    bounced_at: datetime | None


class SuppressionOut(Schema):
    email: str
    reason: str
    at: datetime
    note: str


# --- segments -----------------------------------------------------------------------------------------------------


@router.get("/nurture/segments", response=page_of(SegmentOut))
def list_segments(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    _nurturer(request)
    return paginate(Segment.objects.all(), page)


@router.post("/nurture/segments", response={201: SegmentOut})
@may_conflict
def create_segment(request: HttpRequest, payload: SegmentIn) -> Status:
    """A new segment; a condition that is not well formed is refused naming it (`conditions[1].value`)."""
    return Status(201, services.save_segment(None, by=current_user(request), **payload.dict()))


@router.patch("/nurture/segments/{segment_id}", response=SegmentOut)
@may_conflict
def update_segment(request: HttpRequest, segment_id: Id, payload: SegmentPatch) -> Segment:
    segment = get_object_or_404(Segment, pk=segment_id)
    return services.save_segment(segment, by=current_user(request), **payload.dict(exclude_unset=True))


@router.delete("/nurture/segments/{segment_id}", response={204: None})
def delete_segment(request: HttpRequest, segment_id: Id) -> Status:
    services.delete_segment(get_object_or_404(Segment, pk=segment_id), by=current_user(request))
    return Status(204, None)


@router.get("/nurture/segments/{segment_id}/preview", response=SegmentPreviewOut)
def preview_segment(request: HttpRequest, segment_id: Id, params: Query[PreviewParams]) -> dict[str, Any]:
    """How many open leads (lead, prospect, recycled) the user may see are in the segment now, and the first."""
    user = _nurturer(request)
    return selectors.segment_preview(get_object_or_404(Segment, pk=segment_id), user, limit=params.limit)


# --- email templates ----------------------------------------------------------------------------------------------


@router.get("/nurture/templates", response=page_of(TemplateOut))
def list_templates(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    _nurturer(request)
    return paginate(EmailTemplate.objects.all(), page)


@router.post("/nurture/templates", response={201: TemplateOut})
@may_conflict
def create_template(request: HttpRequest, payload: TemplateIn) -> Status:
    """A new template; one that does not compile, or uses a tag emails may not, is refused naming the field."""
    return Status(201, services.save_template(None, by=current_user(request), **payload.dict()))


@router.patch("/nurture/templates/{template_id}", response=TemplateOut)
@may_conflict
def update_template(request: HttpRequest, template_id: Id, payload: TemplatePatch) -> EmailTemplate:
    template = get_object_or_404(EmailTemplate, pk=template_id)
    return services.save_template(template, by=current_user(request), **payload.dict(exclude_unset=True))


@router.delete("/nurture/templates/{template_id}", response={204: None})
@may_conflict
def delete_template(request: HttpRequest, template_id: Id) -> Status:
    """Delete a template no step sends (one in use is refused, naming the step)."""
    services.delete_template(get_object_or_404(EmailTemplate, pk=template_id), by=current_user(request))
    return Status(204, None)


@router.post("/nurture/templates/{template_id}/preview", response=TemplatePreviewOut)
def preview_template(request: HttpRequest, template_id: Id, payload: TemplatePreviewIn) -> Any:
    """The template as this lead would get it (no tracking): subject, HTML and the plain-text part."""
    user = _nurturer(request)
    template = get_object_or_404(EmailTemplate, pk=template_id)
    lead = selectors.leads_by_ids(user, [payload.lead_id])[0]
    return selectors.preview_email(template, lead)


# --- sequences ----------------------------------------------------------------------------------------------------

SEQUENCE_REFS = {"segment_id": (Segment, "segment")}
STEP_REFS = {"template_id": (EmailTemplate, "template"), "variant_template_id": (EmailTemplate, "variant_template")}


@router.get("/nurture/sequences", response=page_of(SequenceOut))
def list_sequences(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    _nurturer(request)
    return paginate(Sequence.objects.all(), page)


@router.post("/nurture/sequences", response={201: SequenceOut})
@may_conflict
def create_sequence(request: HttpRequest, payload: SequenceIn) -> Status:
    """A new sequence, stopped: add its steps, then PATCH is_active to start it."""
    fields = resolve_ids(payload.dict(), SEQUENCE_REFS)
    return Status(201, services.save_sequence(None, by=current_user(request), **fields))


@router.get("/nurture/sequences/{sequence_id}", response=SequenceDetailOut)
def get_sequence(request: HttpRequest, sequence_id: Id) -> Sequence:
    """The sequence with its steps in order and its figures: enrolments, and per step and variant the emails."""
    _nurturer(request)
    return get_object_or_404(Sequence, pk=sequence_id)


@router.patch("/nurture/sequences/{sequence_id}", response=SequenceOut)
@may_conflict
def update_sequence(request: HttpRequest, sequence_id: Id, payload: SequencePatch) -> Sequence:
    sequence = get_object_or_404(Sequence, pk=sequence_id)
    fields = resolve_ids(payload.dict(exclude_unset=True), SEQUENCE_REFS)
    return services.save_sequence(sequence, by=current_user(request), **fields)


@router.post("/nurture/sequences/{sequence_id}/steps", response={201: StepOut})
@may_conflict
def add_step(request: HttpRequest, sequence_id: Id, payload: StepIn) -> Status:
    """Append a step; its config is checked for its kind and a refusal names the key (`config.days`)."""
    sequence = get_object_or_404(Sequence, pk=sequence_id)
    fields = resolve_ids(payload.dict(), STEP_REFS)
    return Status(201, services.add_step(sequence, by=current_user(request), **fields))


@router.delete("/nurture/sequences/{sequence_id}/steps/{step_id}", response={204: None})
@may_conflict
def delete_step(request: HttpRequest, sequence_id: Id, step_id: Id) -> Status:
    """Remove a step (later ones move up); refused once it has sent emails."""
    services.delete_step(get_object_or_404(Step, pk=step_id, sequence=sequence_id), by=current_user(request))
    return Status(204, None)


@router.post("/nurture/sequences/{sequence_id}/enrol", response=EnrolOut)
@may_conflict
def enrol(request: HttpRequest, sequence_id: Id, payload: EnrolIn) -> dict[str, int]:
    """Enrol leads by hand into a running sequence."""
    user = _nurturer(request)
    sequence = get_object_or_404(Sequence, pk=sequence_id)
    leads = selectors.leads_by_ids(user, payload.lead_ids)
    return {"enrolled": services.enrol_leads(sequence, leads, by=user)}


# --- what the mail system reports, and the suppression list -------------------------------------------------------


@router.post("/nurture/deliveries/{delivery_id}/outcome", response=DeliveryOut)
def delivery_outcome(request: HttpRequest, delivery_id: Id, payload: OutcomeIn) -> Delivery:
    """The mail system's webhook: an email was replied to, bounced, or marked as spam."""
    delivery = get_object_or_404(Delivery, pk=delivery_id)
    return services.record_outcome(delivery, payload.outcome, by=current_user(request))


@router.get("/nurture/suppressions", response=page_of(SuppressionOut))
def list_suppressions(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Addresses no nurture email goes to, newest first, and why."""
    _nurturer(request)
    return paginate(Suppression.objects.order_by("-at", "-id"), page)
