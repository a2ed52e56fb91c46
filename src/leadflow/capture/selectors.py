"""Reads for capture: forms with their figures, submissions, refusals, lead-ads sources and deliveries, and the
doors each lead came by."""

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404

from leadflow.leads.lifecycle import FORWARD
from leadflow.leads.models import Lead
from leadflow.prepared import Prepared, keep_related
from leadflow.users.models import User

from .models import Form, FormField, Refusal, RefusalReason, Submission, WebhookDelivery, WebhookSource
from .services.forms import can_manage_capture

REACHED_PROSPECT = FORWARD[FORWARD.index("prospect") :]
REACHED_OPPORTUNITY = FORWARD[FORWARD.index("opportunity") :]


_FORM_WITH_KEY = Prepared(lambda key: Form.objects.filter(key=key).order_by()[:1], key=str)
_FIELDS_OF_FORM = Prepared(lambda form_id: FormField.objects.filter(form_id=form_id), form_id=int)


def form_to_submit(key: str) -> Form:
    """The form with this public key, its fields read with it; Http404 for none (a read every submission makes)."""
    form = next(iter(_FORM_WITH_KEY(key=key)), None)
    if form is None:
        raise Http404("No such form.")
    keep_related(form, "fields", _FIELDS_OF_FORM(form_id=form.pk))
    return form


def _ensure_can_see(user: User) -> None:
    if not can_manage_capture(user):
        raise Http404("No such page.")


def forms_with_figures(user: User) -> QuerySet[Form]:
    """Every form with its submissions, the leads they brought, how many of those reached prospect and
    opportunity, and how many submissions it refused."""
    _ensure_can_see(user)
    refused = Refusal.objects.filter(form=OuterRef("pk")).values("form").annotate(n=Sum("count")).values("n")
    reached = "submissions__lead__furthest_stage__in"
    return Form.objects.annotate(
        submission_count=Count("submissions", distinct=True),
        lead_count=Count("submissions__lead", distinct=True),
        prospect_count=Count("submissions__lead", filter=Q(**{reached: REACHED_PROSPECT}), distinct=True),
        opportunity_count=Count("submissions__lead", filter=Q(**{reached: REACHED_OPPORTUNITY}), distinct=True),
        refused_count=Coalesce(Subquery(refused, output_field=IntegerField()), Value(0)),
    ).order_by("name", "id")


def get_form(user: User, form_id: int) -> Form:
    _ensure_can_see(user)
    return get_object_or_404(forms_with_figures(user), pk=form_id)


def form_submissions(form: Form) -> QuerySet[Submission]:
    """The form's submissions, newest first, with their leads."""
    return form.submissions.select_related("lead__contact").order_by("-submitted_at", "-id")


def form_refusals(form: Form) -> dict[str, int]:
    """How many submissions the form refused, by reason in words."""
    rows = form.refusals.values("reason").annotate(n=Sum("count")).order_by("reason")
    return {RefusalReason(row["reason"]).label: row["n"] for row in rows}


def sources_with_figures(user: User) -> QuerySet[WebhookSource]:
    """Every lead-ads source with its deliveries by result."""
    _ensure_can_see(user)
    return WebhookSource.objects.annotate(
        delivery_count=Count("deliveries"),
        lead_count=Count("deliveries", filter=Q(deliveries__result__in=["created", "updated"])),
        failed_count=Count("deliveries", filter=Q(deliveries__result__in=["failed", "refused"])),
    ).order_by("name", "id")


def get_source(user: User, source_id: int) -> WebhookSource:
    return get_object_or_404(sources_with_figures(user), pk=source_id)


def source_deliveries(source: WebhookSource) -> QuerySet[WebhookDelivery]:
    return source.deliveries.select_related("lead__contact").order_by("-received_at", "-id")


def get_delivery(user: User, delivery_id: int) -> WebhookDelivery:
    _ensure_can_see(user)
    return get_object_or_404(WebhookDelivery.objects.select_related("source"), pk=delivery_id)


def doors_of(lead: Lead) -> list[str]:
    """The doors the lead came by, first first ('Form: Request a demo (embedded form)')."""
    forms = Submission.objects.filter(lead=lead).select_related("form").order_by("submitted_at", "id")
    doors = [f"Form: {s.form.name} ({s.get_door_display().lower()})" for s in forms]
    deliveries = WebhookDelivery.objects.filter(lead=lead).select_related("source").order_by("received_at")
    doors += [f"Lead ads: {d.source.name} ({d.source.get_kind_display()})" for d in deliveries]
    return list(dict.fromkeys(doors))
