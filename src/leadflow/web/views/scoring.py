"""The scoring page, for admins and marketing: the rules, the MQL threshold, a preview of what a rule would
qualify before it is added, and rescoring every lead in the background. The model page, for everyone: how well the
conversion model predicts and what it learns from (training it is for admins and marketing)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leadflow.errors import DomainError
from leadflow.scoring import selectors, services
from leadflow.scoring.models import RescoreJob, ScoringRule, TrainingJob
from leadflow.scoring.rules import describe_rule

from ..forms import EngagementRuleForm, FitRuleForm, ThresholdForm, error_summary
from .common import current, only_for, run_form

rule_editors_only = only_for(services.can_edit_rules)


def _page(request: HttpRequest, *, fit_form=None, engagement_form=None, preview=None, status=200) -> HttpResponse:
    rules = ScoringRule.objects.order_by("kind", "-is_active", "name", "pk")
    context = {
        "rules": [{"rule": rule, "condition": describe_rule(rule)} for rule in rules],
        "threshold_form": ThresholdForm(initial={"mql_threshold": selectors.scoring_settings().mql_threshold}),
        "fit_form": fit_form or FitRuleForm(),
        "engagement_form": engagement_form or EngagementRuleForm(),
        "preview": preview,
        "job": RescoreJob.objects.order_by("-created_at").first(),
        "behind": selectors.scores_behind_rules(),
    }
    return render(request, "web/scoring.html", context, status=status)


@rule_editors_only
def scoring_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@rule_editors_only
@require_POST
def rule_add(request: HttpRequest, kind: str) -> HttpResponse:
    """Add a rule, or (the Preview button) say what the rules would qualify with it, without saving."""
    user = current(request)
    form = FitRuleForm(request.POST) if kind == "fit" else EngagementRuleForm(request.POST)
    forms = {"fit_form": form} if kind == "fit" else {"engagement_form": form}
    if not form.is_valid():
        messages.error(request, error_summary(form))
        return _page(request, **forms, status=422)
    try:
        if request.POST.get("action") == "preview":
            current_rules = [services.rule_fields(rule) for rule in selectors.active_rules()]
            rules = services.proposed_rules([*current_rules, form.rule_fields()], by=user)
            return _page(request, **forms, preview={"rule": form.cleaned_data["name"], **selectors.preview_mql(rules)})
        services.create_rule(by=user, **form.rule_fields())
    except DomainError as error:
        messages.error(request, error.detail)
        return _page(request, **forms, status=422)
    messages.success(request, "Rule added. Rescore the leads to apply it to everyone.")
    return redirect("web:scoring")


@rule_editors_only
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(ScoringRule, pk=rule_id)
    services.update_rule(rule, by=current(request), is_active=not rule.is_active)
    return redirect("web:scoring")


@rule_editors_only
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    services.delete_rule(get_object_or_404(ScoringRule, pk=rule_id), by=current(request))
    messages.success(request, "Rule deleted. Rescore the leads to take it out of their scores.")
    return redirect("web:scoring")


@rule_editors_only
@require_POST
def threshold_set(request: HttpRequest) -> HttpResponse:
    user = current(request)
    return run_form(
        request,
        ThresholdForm(request.POST),
        lambda data: services.set_mql_threshold(data["mql_threshold"], by=user),
        "MQL threshold saved.",
        back="web:scoring",
    )


@rule_editors_only
@require_POST
def rescore(request: HttpRequest) -> HttpResponse:
    services.queue_rescore(by=current(request))
    messages.success(request, "Rescoring queued: the worker scores every lead; progress shows below.")
    return redirect("web:scoring")


@rule_editors_only
def rescore_progress(request: HttpRequest) -> HttpResponse:
    """The job's progress line (htmx polls it while the job runs)."""
    return render(request, "web/_rescore_job.html", {"job": RescoreJob.objects.order_by("-created_at").first()})


@login_required
def model_page(request: HttpRequest) -> HttpResponse:
    """The conversion model: held-out metrics, calibration and what it learns from; training for rule editors."""
    context = {
        "serving": selectors.serving_model(with_trees=False),
        "models": list(selectors.conversion_models()[:10]),
        "job": TrainingJob.objects.order_by("-created_at").first(),
        "can_train": services.can_edit_rules(current(request)),
    }
    return render(request, "web/scoring_model.html", context)


@rule_editors_only
@require_POST
def train(request: HttpRequest) -> HttpResponse:
    services.queue_training(by=current(request))
    messages.success(request, "Training queued: the worker trains a model and predicts every lead; progress below.")
    return redirect("web:scoring_model")


@login_required
def training_progress(request: HttpRequest) -> HttpResponse:
    """The training job's progress line (htmx polls it while the job runs)."""
    return render(request, "web/_training_job.html", {"job": TrainingJob.objects.order_by("-created_at").first()})
