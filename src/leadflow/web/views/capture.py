"""Capture, for marketing and admins: forms with their submissions and conversion, the form builder with the
three ways onto a site, lead-ads sources with their deliveries (replayable)."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leadflow.capture import selectors, services
from leadflow.capture.models import Form, WebhookSource
from leadflow.errors import DomainError

from ..forms import FieldRows, FormSettingsForm, SourceForm, add_domain_errors, field_rows
from .common import current, only_for, page_of

capturers_only = only_for(services.can_manage_capture)


@capturers_only
def dashboard(request: HttpRequest) -> HttpResponse:
    """Every form with its submissions and conversion to prospect and opportunity; every lead-ads source."""
    user = current(request)
    context = {
        "forms": page_of(request, selectors.forms_with_figures(user)),
        "sources": selectors.sources_with_figures(user)[:50],
    }
    return render(request, "web/capture/dashboard.html", context)


def _initial_rows(form: Form | None) -> list[dict[str, Any]]:
    if form is None:
        return [{"label": "Email", "name": "email", "kind": "email", "target": "email", "required": True}]
    return [
        {key: getattr(field, key) for key in ("label", "name", "kind", "target", "property_name", "required",
                                               "choices", "help_text")}
        for field in form.fields.all()
    ]  # fmt: skip


def _builder(request: HttpRequest, form: Form | None, settings_form: Any, rows: Any, *, status: int = 200) -> Any:
    context: dict[str, Any] = {"form_row": form, "settings_form": settings_form, "rows": rows}
    if form is not None:
        base = settings.PUBLIC_URL
        context.update(
            hosted_url=base + reverse("capture:hosted", args=[form.slug]),
            embed_url=base + reverse("capture:embed", args=[form.key]),
            post_url=base + reverse("capture:submit", args=[form.key]),
            token=services.form_token(form),
            submissions=page_of(request, selectors.form_submissions(form)),
            refusals=selectors.form_refusals(form),
        )
    return render(request, "web/capture/form.html", context, status=status)


def _save_form(request: HttpRequest, form: Form | None) -> HttpResponse:
    user = current(request)
    if request.method != "POST":
        settings_form = FormSettingsForm(instance=form)
        return _builder(request, form, settings_form, FieldRows(initial=_initial_rows(form), prefix="fields"))
    settings_form = FormSettingsForm(request.POST, instance=form)
    rows = FieldRows(request.POST, prefix="fields")
    if settings_form.is_valid() and rows.is_valid():
        data = {name: settings_form.cleaned_data[name] for name in settings_form.Meta.fields}
        try:
            saved = services.save_form(form if form is not None else None, by=user, fields=field_rows(rows), **data)
        except DomainError as error:
            add_domain_errors(settings_form, error)
        else:
            messages.success(request, f"Form {saved.name} saved.")
            return redirect("web:capture_form", saved.pk)
    if form is not None:
        form.refresh_from_db()
    return _builder(request, form, settings_form, rows, status=422)


@capturers_only
def form_new(request: HttpRequest) -> HttpResponse:
    return _save_form(request, None)


@capturers_only
def form_detail(request: HttpRequest, form_id: int) -> HttpResponse:
    """The builder, the ways onto a site, the submissions and refusals of one form."""
    return _save_form(request, selectors.get_form(current(request), form_id))


def _source_page(request: HttpRequest, source: WebhookSource | None, form: SourceForm, *, status: int = 200) -> Any:
    context: dict[str, Any] = {"source": source, "form": form}
    if source is not None:
        context["endpoint"] = settings.PUBLIC_URL + reverse("capture:webhook", args=[source.key])
        context["deliveries"] = page_of(request, selectors.source_deliveries(source))
    return render(request, "web/capture/source.html", context, status=status)


def _save_source(request: HttpRequest, source: WebhookSource | None) -> HttpResponse:
    if request.method != "POST":
        return _source_page(request, source, SourceForm(instance=source))
    form = SourceForm(request.POST, instance=source)
    if form.is_valid():
        data = {name: form.cleaned_data[name] for name in [*SourceForm.Meta.fields, "field_mapping"]}
        try:
            saved = services.save_source(source, by=current(request), **data)
        except DomainError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, f"Source {saved.name} saved.")
            return redirect("web:capture_source", saved.pk)
    if source is not None:
        source.refresh_from_db()
    return _source_page(request, source, form, status=422)


@capturers_only
def source_new(request: HttpRequest) -> HttpResponse:
    return _save_source(request, None)


@capturers_only
def source_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    """A lead-ads source: its settings and mapping, its signed endpoint, and every delivery with its result."""
    return _save_source(request, selectors.get_source(current(request), source_id))


@capturers_only
@require_POST
def delivery_replay(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Run a failed or refused delivery again, with the source's mapping as it is now."""
    delivery = selectors.get_delivery(current(request), delivery_id)
    try:
        done = services.replay(delivery, by=current(request))
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Replayed: {done.get_result_display()}. {done.message}")
    return redirect("web:capture_source", delivery.source_id)
