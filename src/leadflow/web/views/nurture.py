"""Nurture, for marketing and admins: segments built from conditions with a live count, email templates previewed
for a real lead, and sequences shown as a flow of steps with their figures."""

import re
from collections import defaultdict
from typing import Any

from csp.decorators import csp_update
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leadflow.errors import DomainError, InvalidInput
from leadflow.leads.models import Lead
from leadflow.leads.selectors import leads_visible_to
from leadflow.nurture import selectors, services
from leadflow.nurture.condition_rows import segment_conditions
from leadflow.nurture.models import EmailTemplate, ExitWhen, Segment, Sequence, Step, StepKind
from leadflow.nurture.segments import clean_conditions
from leadflow.users.models import User

from ..forms import (
    STEP_FORMS,
    WEEKDAY_CHOICES,
    EmailTemplateForm,
    EnrolForm,
    SegmentForm,
    SequenceForm,
    TemplatePreviewForm,
)
from .common import current, only_for, page_of, submit_form

nurturers_only = only_for(services.can_nurture)


def _unchanged(row: Any) -> Any:
    """The row as stored: a service that refused a change may have set some of it on the object already."""
    if row is not None and row.pk is not None:
        row.refresh_from_db()
    return row


ROW_KEY = re.compile(r"conditions\[(\d+)\]\.(\w+)")


# --- segments -----------------------------------------------------------------------------------------------------


@nurturers_only
def segment_list(request: HttpRequest) -> HttpResponse:
    """The segments with how many open leads each holds now."""
    user = current(request)
    page = page_of(request, Segment.objects.all())
    rows = [
        {"segment": segment, "count": selectors.segment_preview(segment, user, limit=0)["count"]} for segment in page
    ]
    return render(request, "web/nurture/segments.html", {"page": page, "rows": rows, "tab": "segments"})


def _reason(error: DomainError) -> str:
    """A refusal in words, a condition named as the builder shows its rows: 'Condition 2, value: Must be a
    number.'"""
    field, problems = next(iter(error.errors.items()), ("", [error.detail]))
    found = ROW_KEY.fullmatch(field)
    where = f"Condition {int(found[1]) + 1}, {found[2].replace('_', ' ')}: " if found else ""
    return where + " ".join(problems)


def _preview(user: User, match: str, conditions: list[dict]) -> dict[str, Any]:
    """The live count and first leads of these conditions, or why they cannot be counted yet."""
    try:
        draft = Segment(match=match, conditions=clean_conditions(conditions))
    except InvalidInput as error:
        return {"error": _reason(error)}
    return selectors.segment_preview(draft, user)


def _builder(request: HttpRequest, segment: Segment | None, form: SegmentForm, *, status: int = 200) -> HttpResponse:
    conditions = form.conditions() if form.is_bound else segment.conditions if segment else []
    context = {
        "segment": segment,
        "form": form,
        "preview": _preview(current(request), form["match"].value() or "all", conditions),
        "tab": "segments",
    }
    return render(request, "web/nurture/segment.html", context, status=status)


def _segment_form(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    """The builder: a new segment, or a saved one; a post saves it and comes back to it."""
    if request.method != "POST":
        rows = segment.conditions if segment else [{"field": "lifecycle_stage", "op": "in", "value": ["lead"]}]
        initial = SegmentForm.initial_for(segment.name if segment else "", segment.description if segment else "",
                                          segment.match if segment else "all", rows)  # fmt: skip
        return _builder(request, segment, SegmentForm(initial=initial, rows=len(rows)))
    user = current(request)
    form = SegmentForm(request.POST, rows=len(SegmentForm.rows_in(request.POST)))
    return submit_form(
        request,
        form,
        lambda data: services.save_segment(
            segment,
            by=user,
            name=data["name"],
            description=data["description"],
            match=data["match"],
            conditions=form.conditions(),
        ),
        "Segment saved.",
        lambda form: _builder(request, _unchanged(segment), form, status=422),
        back=lambda saved: reverse("web:nurture_segment", args=[saved.pk]),
    )


@nurturers_only
def segment_new(request: HttpRequest) -> HttpResponse:
    return _segment_form(request, None)


@nurturers_only
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    return _segment_form(request, get_object_or_404(Segment, pk=segment_id))


@nurturers_only
@require_POST
def segment_rows(request: HttpRequest) -> HttpResponse:
    """The builder's condition rows after adding one, removing one or changing a row's field (htmx), with the
    preview of what they now select."""
    rows = SegmentForm.rows_in(request.POST)
    action = request.POST.get("action", "")
    if action == "add":
        rows.append({"field": "lifecycle_stage", "op": "in", "value": ""})
    elif action.startswith("remove:") and action[7:].isdigit() and int(action[7:]) < len(rows):
        rows.pop(int(action[7:]))
    match = request.POST.get("match", "all")
    form = SegmentForm(initial=SegmentForm.initial_for("", "", match, rows), rows=len(rows))
    preview = _preview(current(request), match, segment_conditions(rows))
    return render(request, "web/nurture/_segment_rows.html", {"form": form, "preview": preview, "oob": True})


@nurturers_only
@require_POST
def segment_preview(request: HttpRequest) -> HttpResponse:
    """How many open leads the conditions as they stand select, and the first ten (htmx)."""
    conditions = segment_conditions(SegmentForm.rows_in(request.POST))
    preview = _preview(current(request), request.POST.get("match", "all"), conditions)
    return render(request, "web/nurture/_segment_preview.html", {"preview": preview})


@nurturers_only
@require_POST
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=segment_id)
    services.delete_segment(segment, by=current(request))
    messages.success(request, f"Segment {segment.name} deleted.")
    return redirect("web:nurture_segments")


# --- email templates ----------------------------------------------------------------------------------------------


@nurturers_only
def template_list(request: HttpRequest) -> HttpResponse:
    page = page_of(request, EmailTemplate.objects.all())
    return render(request, "web/nurture/templates.html", {"page": page, "tab": "templates"})


def _preview_lead(user: User, form: TemplatePreviewForm) -> Lead:
    """The lead a preview is for: the one named by id, else the first of the chosen segment, else the first the
    user may see."""
    data = form.cleaned_data if form.is_valid() else {}
    if data.get("lead"):
        return selectors.leads_by_ids(user, [data["lead"]])[0]
    if data.get("segment"):
        sample = selectors.segment_preview(data["segment"], user, limit=1)["sample"]
        if not sample:
            raise InvalidInput.on("segment", "This segment has no open leads now.")
        return sample[0]
    lead = leads_visible_to(user).order_by("pk").first()
    if lead is None:
        raise InvalidInput.on("lead", "There are no leads yet.")
    return lead


def _email_preview(user: User, template: EmailTemplate, form: TemplatePreviewForm) -> dict[str, Any]:
    try:
        lead = _preview_lead(user, form)
    except InvalidInput as error:
        return {"error": _reason(error)}
    return {"lead": lead, "email": selectors.preview_email(template, lead)}


def _template_form(request: HttpRequest, template: EmailTemplate | None) -> HttpResponse:
    """The editor, with the saved template's preview for a real lead; a post saves and comes back to it."""
    user = current(request)

    def show(shown: EmailTemplate | None, form: EmailTemplateForm, status: int = 200) -> HttpResponse:
        context: dict[str, Any] = {"template": shown, "form": form, "tab": "templates"}
        if shown is not None:
            context["preview_form"] = preview_form = TemplatePreviewForm()
            context["preview"] = _email_preview(user, shown, preview_form)
        return render(request, "web/nurture/template.html", context, status=status)

    if request.method != "POST":
        fields = ("name", "subject", "body")
        initial = {name: getattr(template, name) for name in fields} if template else None
        return show(template, EmailTemplateForm(initial=initial))
    return submit_form(
        request,
        EmailTemplateForm(request.POST),
        lambda data: services.save_template(template, by=user, **data),
        "Template saved.",
        lambda form: show(_unchanged(template), form, status=422),
        back=lambda saved: reverse("web:nurture_template", args=[saved.pk]),
    )


# An email's preview (a sandboxed frame that inherits the page's policy) shows it as sent: with its inline styles
# and its images from anywhere. Scripts stay blocked.
shows_emails: Any = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["https:", "http:"]})


@nurturers_only
@shows_emails
def template_new(request: HttpRequest) -> HttpResponse:
    return _template_form(request, None)


@nurturers_only
@shows_emails
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    return _template_form(request, get_object_or_404(EmailTemplate, pk=template_id))


@nurturers_only
@shows_emails
def template_preview(request: HttpRequest, template_id: int) -> HttpResponse:
    """The saved template as the chosen lead would get it (htmx)."""
    template = get_object_or_404(EmailTemplate, pk=template_id)
    preview = _email_preview(current(request), template, TemplatePreviewForm(request.GET))
    return render(request, "web/nurture/_template_preview.html", {"preview": preview})


# --- sequences ----------------------------------------------------------------------------------------------------


def _sequence_list(request: HttpRequest, form: SequenceForm | None = None, *, status: int = 200) -> HttpResponse:
    page = page_of(request, Sequence.objects.select_related("segment"))
    totals = selectors.sequence_totals([sequence.pk for sequence in page])
    context = {
        "page": page,
        "rows": [{"sequence": sequence, **totals[sequence.pk]} for sequence in page],
        "form": form or SequenceForm(),
        "tab": "sequences",
    }
    return render(request, "web/nurture/sequences.html", context, status=status)


@nurturers_only
def sequence_list(request: HttpRequest) -> HttpResponse:
    """The sequences with their status, enrolments and emails."""
    return _sequence_list(request)


def _to_sequence(sequence: Sequence, anchor: str = "") -> str:
    return reverse("web:nurture_sequence", args=[sequence.pk]) + (f"#{anchor}" if anchor else "")


@nurturers_only
@require_POST
def sequence_new(request: HttpRequest) -> HttpResponse:
    user = current(request)
    return submit_form(
        request,
        SequenceForm(request.POST),
        lambda data: services.save_sequence(None, by=user, **data),
        "Sequence created: add its steps, then start it.",
        lambda form: _sequence_list(request, form, status=422),
        back=_to_sequence,
    )


def _weekday(number: int) -> str:
    return dict(WEEKDAY_CHOICES).get(number, str(number))


def _plural(count: Any, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _summary(step: Step) -> str:
    """What a step does, in a line."""
    config = step.config
    if step.kind == StepKind.EMAIL:
        text = f"“{step.template}”"
        if step.variant_template:
            text += f" or B “{step.variant_template}”, tested on {step.get_test_metric_display().lower()}"
            if step.test_deadline:
                text += f", decided by {step.test_deadline:%d %b %Y %H:%M}"
        return text
    if step.kind == StepKind.WAIT:
        if "weekday" in config:
            return f"until {_weekday(config['weekday'])} {config.get('hour', 9):02d}:00 in the lead's time zone"
        parts = [_plural(config[unit], unit[:-1]) for unit in ("days", "hours") if config.get(unit)]
        return " and ".join(parts)
    if step.kind == StepKind.BRANCH:
        condition = config["if"]
        kind = condition["kind"]
        if kind == "visited":
            page = f" a page with “{condition['page']}”" if condition.get("page") else " any page"
            return f"if the lead visited{page} within {_plural(condition.get('within_days', 30), 'day')}"
        if kind == "score_above":
            return f"if the lead scores above {condition.get('value')}"
        if kind == "field_equals":
            return f"if the lead's {condition.get('field')} is {condition.get('value')}"
        return f"if the lead {kind} an email of this sequence"
    if step.kind == StepKind.UPDATE_FIELD:
        return f"{config['field']} = {config['value']}"
    if step.kind == StepKind.SET_STAGE:
        return f"to {config['stage']}" + (f" (“{config['reason']}”)" if config.get("reason") else "")
    if step.kind == StepKind.CREATE_TASK:
        return f"“{config['subject']}”, due in {_plural(config.get('due_days', 1), 'day')}"
    return f"“{config['text']}”"


def _rated(figures: dict[str, Any]) -> dict[str, Any]:
    """A step's figures for one variant with opened, clicked and replied as shares of those sent."""
    sent = figures["sent"]
    rates = {f"{name}_rate": figures[name] / sent if sent else None for name in ("opened", "clicked", "replied")}
    return {**figures, **rates}


def _sequence_page(request: HttpRequest, sequence: Sequence, *, status: int = 200, **forms: Any) -> HttpResponse:
    stats = selectors.sequence_stats(sequence)
    figures = defaultdict(list)
    for row in stats["steps"]:
        figures[row["step__position"]].append(_rated(row))
    steps = list(sequence.steps.select_related("template", "variant_template"))
    step_form = forms.get("step_form")
    context = {
        "sequence": sequence,
        "stats": stats,
        "exits": [ExitWhen(value).label for value in sequence.exit_when],
        "flow": [{"step": step, "summary": _summary(step), "figures": figures[step.position]} for step in steps],
        "step_forms": [
            {
                "kind": kind,
                "label": StepKind(kind).label,
                "form": step_form if step_form and step_form.kind == kind else form_class(),
            }
            for kind, form_class in STEP_FORMS.items()
        ],
        "settings_form": forms.get("settings_form")
        or SequenceForm(
            initial={
                "name": sequence.name,
                "segment": sequence.segment_id,
                "exit_when": sequence.exit_when,
                "allow_reentry": sequence.allow_reentry,
                "reentry_after_days": sequence.reentry_after_days,
            }
        ),
        "enrol_form": forms.get("enrol_form") or EnrolForm(),
        "tab": "sequences",
    }
    return render(request, "web/nurture/sequence.html", context, status=status)


@nurturers_only
def sequence_detail(request: HttpRequest, sequence_id: int) -> HttpResponse:
    """A sequence: its steps as a flow with each one's figures, forms to add steps, its settings and enrolment."""
    return _sequence_page(request, get_object_or_404(Sequence.objects.select_related("segment"), pk=sequence_id))


@nurturers_only
@require_POST
def sequence_settings(request: HttpRequest, sequence_id: int) -> HttpResponse:
    sequence = get_object_or_404(Sequence, pk=sequence_id)
    user = current(request)
    return submit_form(
        request,
        SequenceForm(request.POST),
        lambda data: services.save_sequence(sequence, by=user, **data),
        "Settings saved.",
        lambda form: _sequence_page(request, _unchanged(sequence), status=422, settings_form=form),
        back=_to_sequence(sequence, "s-settings"),
    )


@nurturers_only
@require_POST
def sequence_toggle(request: HttpRequest, sequence_id: int) -> HttpResponse:
    """Start or stop a sequence."""
    sequence = get_object_or_404(Sequence, pk=sequence_id)
    try:
        services.save_sequence(sequence, by=current(request), is_active=not sequence.is_active)
    except DomainError as error:
        messages.error(request, _reason(error))
    else:
        messages.success(request, f"{sequence.name} {'started' if sequence.is_active else 'stopped'}.")
    return redirect(_to_sequence(sequence))


@nurturers_only
@require_POST
def step_add(request: HttpRequest, sequence_id: int) -> HttpResponse:
    """Append a step of the posted kind."""
    sequence = get_object_or_404(Sequence, pk=sequence_id)
    form_class = STEP_FORMS.get(request.POST.get("kind", ""))
    if form_class is None:
        messages.error(request, "Choose a kind of step to add.")
        return _sequence_page(request, sequence, status=422)
    user = current(request)
    form = form_class(request.POST)
    return submit_form(
        request,
        form,
        lambda data: services.add_step(sequence, by=user, **form.step_fields()),
        lambda step: f"Step {step.position} added: {step.get_kind_display().lower()}.",
        lambda form: _sequence_page(request, sequence, status=422, step_form=form),
        back=lambda step: _to_sequence(sequence, f"step-{step.position}"),
    )


@nurturers_only
@require_POST
def step_delete(request: HttpRequest, step_id: int) -> HttpResponse:
    step = get_object_or_404(Step.objects.select_related("sequence"), pk=step_id)
    try:
        services.delete_step(step, by=current(request))
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Step {step.position} deleted; the steps after it moved up.")
    return redirect(_to_sequence(step.sequence, "flow"))


@nurturers_only
@require_POST
def sequence_enrol(request: HttpRequest, sequence_id: int) -> HttpResponse:
    """Enrol leads by id; those already in it, or kept out by the re-entry rule, are skipped."""
    sequence = get_object_or_404(Sequence, pk=sequence_id)
    user = current(request)

    def enrol(data: dict) -> tuple[int, int]:
        leads = selectors.leads_by_ids(user, data["lead_ids"])
        return services.enrol_leads(sequence, leads, by=user), len(leads)

    return submit_form(
        request,
        EnrolForm(request.POST),
        enrol,
        lambda counts: (
            f"Enrolled {counts[0]} of {_plural(counts[1], 'lead')}"
            + (" (the others are in it already or may not enter again yet)." if counts[0] < counts[1] else ".")
        ),
        lambda form: _sequence_page(request, sequence, status=422, enrol_form=form),
        back=_to_sequence(sequence, "s-enrol"),
    )
