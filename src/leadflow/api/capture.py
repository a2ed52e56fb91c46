"""Capture: forms with their fields and submissions, lead-ads webhook sources with their deliveries (replayable).
Marketing and admins only; others get 404."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from leadflow.capture import selectors, services
from leadflow.capture.models import (
    FieldKind,
    Form,
    FormField,
    Target,
    WebhookAuth,
    WebhookDelivery,
    WebhookKind,
    WebhookSource,
)
from leadflow.leads.models import LeadSource
from leadflow.nurture.models import Sequence
from leadflow.users.models import User

from .auth import current_user
from .columns import Body, Flag, Id, Text, column, omittable
from .pagination import PageParams, page_of, paginate
from .refs import resolve_ids
from .statuses import may_conflict

router = Router(tags=["capture"])


class FieldOut(Schema):
    label: str
    name: str = Field("", description="The posted name; from the label when empty")
    kind: FieldKind = FieldKind.TEXT
    target: Target
    property_name: str = ""
    required: bool = False
    choices: str = Field("", description="For a choice: one option a line")
    help_text: str = ""


class FieldIn(Body):
    label: Text = column(FormField, "label")
    name: Text = column(FormField, "name", "", description="The posted name; from the label when empty")
    kind: FieldKind = FieldKind.TEXT
    target: Target
    property_name: Text = column(FormField, "property_name", "")
    required: Flag = False
    choices: Text = column(FormField, "choices", "", description="For a choice: one option a line")
    help_text: Text = column(FormField, "help_text", "")


class FormOut(Schema):
    id: int
    name: str
    slug: str
    key: str
    title: str
    intro: str
    submit_label: str
    consent_wording: str
    consent_required: bool
    double_opt_in: bool
    thank_you_message: str
    redirect_url: str
    allowed_origins: list[str]
    lead_source: str
    is_explicit_intent: bool
    sequence_id: int | None
    notify_id: int | None
    is_active: bool
    fields: list[FieldOut]
    submission_count: int = 0
    lead_count: int = 0
    prospect_count: int = 0
    opportunity_count: int = 0
    refused_count: int = 0

    @staticmethod
    def resolve_allowed_origins(form: Form) -> list[str]:
        return form.origins()

    @staticmethod
    def resolve_fields(form: Form) -> list[Any]:
        return list(form.fields.all())


class FormPatch(Body):
    """A partial update: a field left out is unchanged; none is null but `sequence_id` and `notify_id`."""

    name: Text = column(Form, "name", None)
    slug: Text = column(Form, "slug", None)
    title: Text = column(Form, "title", None)
    intro: Text = column(Form, "intro", None)
    submit_label: Text = column(Form, "submit_label", None)
    consent_wording: Text = column(Form, "consent_wording", None)
    consent_required: Flag = omittable()
    double_opt_in: Flag = omittable()
    thank_you_message: Text = column(Form, "thank_you_message", None)
    redirect_url: Text = column(Form, "redirect_url", None)
    allowed_origins: list[Text] = omittable()
    lead_source: LeadSource = omittable()
    is_explicit_intent: Flag = omittable()
    sequence_id: Id | None = None
    notify_id: Id | None = None
    is_active: Flag = omittable()
    fields: list[FieldIn] = omittable(description="The form's fields in order; they replace the old ones")


class FormIn(FormPatch):
    name: Text = column(Form, "name")
    fields: list[FieldIn]


class SubmissionOut(Schema):
    id: int
    form_id: int
    door: str
    lead_id: int | None
    created_lead: bool
    answers: dict[str, str]
    utm: dict[str, str]
    referrer: str
    consent_wording: str
    confirmed_at: datetime | None
    submitted_at: datetime


class SourceOut(Schema):
    id: int
    name: str
    key: str
    kind: str
    auth: str
    field_mapping: dict[str, str]
    lead_source: str
    is_explicit_intent: bool
    sequence_id: int | None
    notify_id: int | None
    is_active: bool
    delivery_count: int = 0
    lead_count: int = 0
    failed_count: int = 0


class SourcePatch(Body):
    """A partial update: a field left out is unchanged; none is null but `sequence_id` and `notify_id`."""

    name: Text = column(WebhookSource, "name", None)
    kind: WebhookKind = omittable()
    auth: WebhookAuth = omittable()
    secret: Text = column(
        WebhookSource, "secret", None, min_length=8, description="Write-only: the app secret or shared secret"
    )
    field_mapping: dict[Text, Text] = omittable(description="Their field name to ours (or property:name)")
    lead_source: LeadSource = omittable()
    is_explicit_intent: Flag = omittable()
    sequence_id: Id | None = None
    notify_id: Id | None = None
    is_active: Flag = omittable()


class SourceIn(SourcePatch):
    name: Text = column(WebhookSource, "name")
    kind: WebhookKind


class WebhookDeliveryOut(Schema):
    id: int
    source_id: int
    payload_id: str
    payload: dict[str, Any]
    result: str
    message: str
    lead_id: int | None
    received_at: datetime
    replayed_at: datetime | None


def _settings(payload: Schema) -> dict[str, Any]:
    data = payload.dict(exclude_unset=True)
    data = resolve_ids(data, {"sequence_id": (Sequence, "sequence"), "notify_id": (User, "notify")})
    if data.get("allowed_origins") is not None:
        data["allowed_origins"] = "\n".join(data["allowed_origins"])
    return data


@router.get("/capture/forms", response=page_of(FormOut))
def list_forms(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Forms with their submissions, leads, conversion to prospect and opportunity, and refusals."""
    return paginate(selectors.forms_with_figures(current_user(request)).prefetch_related("fields"), page)


@router.post("/capture/forms", response={201: FormOut})
@may_conflict
def create_form(request: HttpRequest, payload: FormIn) -> Status:
    data = _settings(payload)
    form = services.save_form(None, by=current_user(request), **data)
    return Status(201, selectors.get_form(current_user(request), form.pk))


@router.get("/capture/forms/{form_id}", response=FormOut)
def get_form(request: HttpRequest, form_id: Id) -> Form:
    return selectors.get_form(current_user(request), form_id)


@router.patch("/capture/forms/{form_id}", response=FormOut)
@may_conflict
def update_form(request: HttpRequest, form_id: Id, payload: FormPatch) -> Form:
    """Change a form; `fields`, when given, replace its fields in that order."""
    user = current_user(request)
    services.save_form(selectors.get_form(user, form_id), by=user, **_settings(payload))
    return selectors.get_form(user, form_id)


@router.get("/capture/forms/{form_id}/submissions", response=page_of(SubmissionOut))
def list_submissions(request: HttpRequest, form_id: Id, page: Query[PageParams]) -> dict[str, Any]:
    return paginate(selectors.form_submissions(selectors.get_form(current_user(request), form_id)), page)


@router.get("/capture/sources", response=page_of(SourceOut))
def list_sources(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    return paginate(selectors.sources_with_figures(current_user(request)), page)


@router.post("/capture/sources", response={201: SourceOut})
def create_source(request: HttpRequest, payload: SourceIn) -> Status:
    user = current_user(request)
    source = services.save_source(None, by=user, **_settings(payload))
    return Status(201, selectors.get_source(user, source.pk))


@router.patch("/capture/sources/{source_id}", response=SourceOut)
def update_source(request: HttpRequest, source_id: Id, payload: SourcePatch) -> WebhookSource:
    user = current_user(request)
    services.save_source(selectors.get_source(user, source_id), by=user, **_settings(payload))
    return selectors.get_source(user, source_id)


@router.get("/capture/sources/{source_id}/deliveries", response=page_of(WebhookDeliveryOut))
def list_deliveries(request: HttpRequest, source_id: Id, page: Query[PageParams]) -> dict[str, Any]:
    """Every delivery of the source with its result, newest first."""
    return paginate(selectors.source_deliveries(selectors.get_source(current_user(request), source_id)), page)


@router.post("/capture/deliveries/{delivery_id}/replay", response=WebhookDeliveryOut)
@may_conflict
def replay_delivery(request: HttpRequest, delivery_id: Id) -> WebhookDelivery:
    """Run a failed or refused delivery again with the source's mapping as it is now."""
    user = current_user(request)
    return services.replay(selectors.get_delivery(user, delivery_id), by=user)
