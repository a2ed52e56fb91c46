"""Qualification and handoff: the sales queue (accept or reject, the "no lead lost" list, acceptance rates), the
lead page's qualification card, the qualification settings, and the user's notifications."""

import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import BooleanField, Case, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from leadflow.accounts.models import EmployeeBand
from leadflow.chat.selectors import latest_conversations
from leadflow.errors import DomainError
from leadflow.leads.models import Lead, LeadSource
from leadflow.leads.selectors import leads_visible_to
from leadflow.pipeline.models import Pipeline
from leadflow.pipeline.selectors import default_pipeline
from leadflow.qualification import selectors, services
from leadflow.qualification.models import (
    AssignmentRule,
    Distribution,
    Handoff,
    HandoffStatus,
    IntentRule,
    QualifiedBy,
)
from leadflow.users.models import User
from leadflow.users.selectors import notifications_for
from leadflow.users.services import mark_notifications_read

from ..forms import AssignmentRuleForm, CriteriaForm, IntentRuleForm, SlaSettingsForm
from .common import current, is_htmx, only_for, page_of, refused_unless, submit_form

# --- the sales queue ----------------------------------------------------------------------------------------------

edits_settings = refused_unless(services.can_edit_settings, "Only admins may change checklists and SLAs.")
edits_intent_rules = refused_unless(
    services.can_edit_intent_rules, "Only admins and marketing may change intent rules."
)
edits_assignment_rules = refused_unless(
    services.can_edit_assignment_rules, "Only admins and sales managers may change assignment rules."
)
queue_workers = only_for(lambda user: not user.is_marketing)  # marketing hands leads over; sales decides

# Each grouping of acceptance rates: the selector's name for it, the table's title and first column, and the labels
# of its raw values.
RATE_GROUPS = [
    ("source", "By source", "Source", dict(LeadSource.choices)),
    ("qualified_by", "By way of qualifying", "Qualified by", dict(QualifiedBy.choices)),
    ("rule", "By assignment rule", "Rule", {"(none)": "No rule (account owner, or taken by hand)"}),
]


def _queue(user: User, status: str = HandoffStatus.PENDING) -> QuerySet[Handoff]:
    """The sales queue, each handoff also marked `touch_missed` (its first-touch clock ran out untouched)."""
    missed = selectors.first_touch_missed(timezone.now())
    return selectors.sales_queue(user, status=status).annotate(
        touch_missed=Case(When(missed, then=Value(True)), default=Value(False), output_field=BooleanField())
    )


def _checklist_pipeline() -> Pipeline:
    """The default pipeline with its checklist loaded once, for checking many leads."""
    return Pipeline.objects.prefetch_related("qualification_criteria").get(pk=default_pipeline().pk)


def _queue_row(
    handoff: Handoff, pipeline: Pipeline, error: DomainError | None = None, *, chats: dict[int, int] | None = None
) -> dict[str, Any]:
    """A queue row: the handoff, its checklist, and the lead's latest chat transcript (`chats`: by lead, when the
    caller loaded them for a page)."""
    checks = selectors.check_criteria(handoff.lead, pipeline)
    chats = chats if chats is not None else latest_conversations([handoff.lead_id])
    return {
        "handoff": handoff, "checks": checks, "met": sum(check.met for check in checks), "error": error,
        "chat": chats.get(handoff.lead_id),
    }  # fmt: skip


@queue_workers
def sales_queue(request: HttpRequest, tab: str = "waiting") -> HttpResponse:
    """Qualified leads waiting for sales, the qualified leads at risk of being lost, or acceptance rates."""
    user = current(request)
    context: dict[str, Any] = {
        "tab": tab,
        "waiting": selectors.sales_queue(user).count(),
        "at_risk": selectors.no_lead_lost(user).count(),
    }
    if tab == "waiting":
        pipeline = _checklist_pipeline()
        context["page"] = page = page_of(request, _queue(user))
        chats = latest_conversations([handoff.lead_id for handoff in page])
        context["rows"] = [_queue_row(handoff, pipeline, chats=chats) for handoff in page]
    elif tab == "at_risk":
        context["page"] = page = page_of(request, selectors.no_lead_lost(user))
        context["rows"] = [{"lead": lead, "problems": selectors.problems_of(lead)} for lead in page]
    else:
        context["rates"] = [
            {
                "title": title,
                "column": column,
                "rows": [
                    {**row, "label": labels.get(row["group"], row["group"])}
                    for row in selectors.handoff_rates(leads_visible_to(user), by=by)
                ],
            }
            for by, title, column, labels in RATE_GROUPS
        ]
    return render(request, "web/qualification/queue.html", context)


def _decide(request: HttpRequest, handoff_id: int, decide: Callable[[Handoff], object], done: str) -> HttpResponse:
    """Run a decision on a handoff; answer htmx with its queue row and a toast, a form post with a message."""
    user = current(request)
    handoff = selectors.get_handoff(user, handoff_id)
    error = None
    try:
        decide(handoff)
    except DomainError as refused:
        error = refused
    name = str(handoff.lead.contact)
    if not is_htmx(request):
        if error is None:
            messages.success(request, f"{done}: {name}.")
        else:
            messages.error(request, error.detail)
        return redirect(request.POST.get("next") or "web:sales_queue")
    handoff.refresh_from_db(fields=["status"])
    handoff = _queue(user, status=handoff.status).get(pk=handoff.pk)
    row = _queue_row(handoff, _checklist_pipeline(), error)
    response = render(request, "web/qualification/_queue_row.html", {"row": row}, status=422 if error else 200)
    toast = {"text": error.detail, "kind": "error"} if error else {"text": f"{done}: {name}.", "kind": "success"}
    response["HX-Trigger"] = json.dumps({"toast": toast})
    return response


@queue_workers
@require_POST
def handoff_accept(request: HttpRequest, handoff_id: int) -> HttpResponse:
    user = current(request)
    return _decide(request, handoff_id, lambda handoff: services.accept_handoff(handoff, by=user), "Accepted")


@queue_workers
@require_POST
def handoff_reject(request: HttpRequest, handoff_id: int) -> HttpResponse:
    user = current(request)
    reason = request.POST.get("reason", "")
    return _decide(
        request,
        handoff_id,
        lambda handoff: services.reject_handoff(handoff, by=user, reason=reason),
        "Rejected, back to nurture",
    )


def qualification_card(lead: Lead, user: User) -> dict[str, Any]:
    """What the lead page's qualification card shows: the checklist, the latest handoff, who owned the lead."""
    handoff = selectors.latest_handoff(lead)
    return {
        "checks": selectors.check_criteria(lead, default_pipeline()),
        "handoff": handoff,
        "assignments": selectors.lead_assignments(lead),
        "can_decide": handoff is not None and services.can_decide(handoff, user),
    }


# --- settings -----------------------------------------------------------------------------------------------------


def _abilities(user: User) -> dict[str, bool]:
    """Which parts of the qualification settings the user may change (the services refuse the rest)."""
    return {
        "criteria": services.can_edit_settings(user),
        "sla": services.can_edit_settings(user),
        "intent": services.can_edit_intent_rules(user),
        "assignment": services.can_edit_assignment_rules(user),
    }


settings_editors = only_for(lambda user: any(_abilities(user).values()))
SETTINGS = "web:qualification_settings"


def _conditions(rule: AssignmentRule) -> list[str]:
    """The rule's conditions in words (none: it takes every lead)."""
    bands, sources = dict(EmployeeBand.choices), dict(LeadSource.choices)
    conditions = [
        f"region {' or '.join(rule.regions)}" if rule.regions else "",
        f"industry {' or '.join(rule.industries)}" if rule.industries else "",
        f"{' or '.join(bands.get(band, band) for band in rule.employee_bands)} employees"
        if rule.employee_bands
        else "",
        f"source {' or '.join(sources.get(s, s) for s in rule.sources)}" if rule.sources else "",
        f"score ≥ {rule.min_score}" if rule.min_score is not None else "",
    ]
    return [condition for condition in conditions if condition]


def _settings_page(request: HttpRequest, *, status: int = 200, **forms: Any) -> HttpResponse:
    user = current(request)
    can = _abilities(user)
    context: dict[str, Any] = {"can": can, **forms}
    if can["criteria"]:
        context["checklists"] = [
            {
                "pipeline": pipeline,
                "form": forms.get(f"criteria_{pipeline.pk}")
                or CriteriaForm(
                    prefix=f"p{pipeline.pk}", initial=CriteriaForm.initial_for(selectors.criteria_for(pipeline))
                ),
            }
            for pipeline in Pipeline.objects.prefetch_related("qualification_criteria").order_by("-is_default", "name")
        ]
    if can["sla"]:
        settings = selectors.qualification_settings()
        context.setdefault(
            "sla_form", SlaSettingsForm(initial={name: getattr(settings, name) for name in SlaSettingsForm.base_fields})
        )
    if can["intent"]:
        context["intent_rules"] = selectors.intent_rules()
        context.setdefault("intent_form", IntentRuleForm())
    if can["assignment"]:
        context["assignment_rules"] = [
            {"rule": rule, "conditions": _conditions(rule)} for rule in selectors.assignment_rules()
        ]
        context.setdefault("rule_form", AssignmentRuleForm())
    return render(request, "web/qualification/settings.html", context, status=status)


def _on_settings(request: HttpRequest, form_name: str, anchor: str) -> dict[str, Any]:
    """Where a settings form goes back to, and how it is shown again with its errors."""
    return {
        "back": f"{reverse(SETTINGS)}#{anchor}",
        "failed": lambda form: _settings_page(request, status=422, **{form_name: form}),
    }


@settings_editors
def qualification_settings(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


@settings_editors
@edits_settings
@require_POST
def criteria_save(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline, pk=pipeline_id)
    user = current(request)
    form = CriteriaForm(request.POST, prefix=f"p{pipeline.pk}")
    return submit_form(
        request,
        form,
        lambda data: services.save_criteria(pipeline, form.items(), by=user),
        f"Checklist of {pipeline.name} saved.",
        **_on_settings(request, f"criteria_{pipeline.pk}", "s-criteria"),
    )


@settings_editors
@edits_settings
@require_POST
def sla_save(request: HttpRequest) -> HttpResponse:
    user = current(request)
    return submit_form(
        request,
        SlaSettingsForm(request.POST),
        lambda data: services.save_settings(by=user, **data),
        "SLA settings saved; they apply to leads that arrive from now on.",
        **_on_settings(request, "sla_form", "s-sla"),
    )


@settings_editors
@edits_intent_rules
@require_POST
def intent_rule_add(request: HttpRequest) -> HttpResponse:
    user = current(request)
    return submit_form(
        request,
        IntentRuleForm(request.POST),
        lambda data: services.create_intent_rule(by=user, **data),
        "Intent rule added.",
        **_on_settings(request, "intent_form", "s-intent"),
    )


def _act(request: HttpRequest, action: Callable[[], object], success: str, anchor: str) -> HttpResponse:
    """A one-button change on the settings page: run it, report, go back."""
    try:
        action()
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, success)
    return redirect(f"{reverse(SETTINGS)}#{anchor}")


@settings_editors
@edits_intent_rules
@require_POST
def intent_rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(IntentRule, pk=rule_id)
    user = current(request)
    return _act(
        request,
        lambda: services.update_intent_rule(rule, by=user, is_active=not rule.is_active),
        f"{rule.name} turned {'off' if rule.is_active else 'on'}.",
        "s-intent",
    )


@settings_editors
@edits_intent_rules
@require_POST
def intent_rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(IntentRule, pk=rule_id)
    user = current(request)
    return _act(request, lambda: services.delete_intent_rule(rule, by=user), f"{rule.name} deleted.", "s-intent")


def _after_saving(rule: AssignmentRule) -> str:
    """A rule that shares a team's leads by weight goes on to its form, where each rep's weight is set."""
    if rule.team_id is not None and rule.distribution == Distribution.WEIGHTED:
        return reverse("web:assignment_rule", args=[rule.pk])
    return f"{reverse(SETTINGS)}#s-assignment"


@settings_editors
@edits_assignment_rules
@require_POST
def assignment_rule_add(request: HttpRequest) -> HttpResponse:
    user = current(request)
    form = AssignmentRuleForm(request.POST)
    return submit_form(
        request,
        form,
        lambda data: services.create_assignment_rule(by=user, **form.rule_fields()),
        "Assignment rule added; it is tried after the others.",
        lambda form: _settings_page(request, status=422, rule_form=form),
        back=_after_saving,
    )


@settings_editors
@edits_assignment_rules
def assignment_rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    """One assignment rule's form, with the weights of its team's reps when it shares by weight."""
    rule = get_object_or_404(selectors.assignment_rules(), pk=rule_id)
    user = current(request)

    def show(form: AssignmentRuleForm, status: int = 200) -> HttpResponse:
        return render(request, "web/qualification/assignment_rule.html", {"rule": rule, "form": form}, status=status)

    if request.method != "POST":
        return show(AssignmentRuleForm(rule=rule))
    form = AssignmentRuleForm(request.POST, rule=rule)
    return submit_form(
        request,
        form,
        lambda data: services.update_assignment_rule(rule, by=user, **form.rule_fields()),
        f"{rule.name} saved.",
        lambda form: show(form, status=422),
        back=_after_saving,
    )


@settings_editors
@edits_assignment_rules
@require_POST
def assignment_rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AssignmentRule, pk=rule_id)
    user = current(request)
    return _act(
        request,
        lambda: services.update_assignment_rule(rule, by=user, is_active=not rule.is_active),
        f"{rule.name} {'deactivated' if rule.is_active else 'activated'}.",
        "s-assignment",
    )


@settings_editors
@edits_assignment_rules
@require_POST
def assignment_rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AssignmentRule, pk=rule_id)
    user = current(request)
    step = -1 if request.POST.get("direction") == "up" else 1
    return _act(
        request,
        lambda: services.move_assignment_rule(rule, by=user, step=step),
        f"{rule.name} moved {'up' if step < 0 else 'down'}.",
        "s-assignment",
    )


@settings_editors
@edits_assignment_rules
@require_POST
def assignment_rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AssignmentRule, pk=rule_id)
    user = current(request)
    return _act(
        request, lambda: services.delete_assignment_rule(rule, by=user), f"{rule.name} deleted.", "s-assignment"
    )


# --- notifications ------------------------------------------------------------------------------------------------


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The user's notifications, newest first; the unread ones are marked as such once, then read."""
    user = current(request)
    page = page_of(request, notifications_for(user))
    page.object_list = list(page.object_list)  # shown as they were before this visit marks them read
    mark_notifications_read(user)
    return render(request, "web/notifications.html", {"page": page})
