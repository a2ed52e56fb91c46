"""The pipeline board and the opportunity page."""

from collections.abc import Callable
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html_join
from django.views.decorators.http import require_POST

from leadflow.errors import DomainError, InvalidInput
from leadflow.pipeline import selectors, services
from leadflow.pipeline.models import LostReason, Opportunity, Pipeline, Stage

from ..forms import ActivityForm, CloseForm, MoveForm, NoteForm, error_summary
from .common import current, is_htmx, logged_activity, owner_choices


def _month(value: str) -> date | None:
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        return None


@login_required
def board(request: HttpRequest) -> HttpResponse:
    """Kanban per pipeline: a column per stage with count and value; cards drag between stages."""
    user = current(request)
    pipelines = list(Pipeline.objects.all())
    chosen = request.GET.get("pipeline", "")
    pipeline = next((p for p in pipelines if str(p.pk) == chosen), None) or selectors.default_pipeline()
    owner = request.GET.get("owner", "")
    close_month = request.GET.get("close_month", "")
    columns = selectors.pipeline_board(
        user,
        pipeline,
        owner_id=user.pk if owner == "me" else int(owner) if owner.isdigit() else None,
        close_month=_month(close_month),
    )
    # Each card's "Move to…" list names the other stages: built once per column, not once per card.
    move_options = [
        format_html_join("", '<option value="{}">{}</option>', ((o.stage.pk, o.stage.name) for o in columns if o != c))
        for c in columns
    ]
    context = {
        "pipelines": pipelines,
        "pipeline": pipeline,
        "columns": list(zip(columns, move_options, strict=True)),
        "opportunity_url": reverse("web:opportunity", args=[0]).removesuffix("0/"),  # reversed once, not per card
        "owners": owner_choices(user),
        "owner": owner,
        "close_month": close_month,
        "show_amounts": selectors.can_see_amounts(user),
        "can_move": not user.is_marketing,
        "lost_reasons": LostReason.objects.filter(is_active=True),
    }
    template = "web/pipeline/_board.html" if is_htmx(request) else "web/pipeline/board.html"
    return render(request, template, context)


def _is_fetch(request: HttpRequest) -> bool:
    """The board's drag and drop posts with fetch and wants a plain-text answer, not a page."""
    return request.headers.get("X-Requested-With") == "fetch"


def _board_answer(request: HttpRequest, opportunity_id: int, change: Callable[[Opportunity], str]) -> HttpResponse:
    """Run a stage change for the board (204, or the refusal as text) or for the opportunity page (redirect)."""
    try:
        opportunity = selectors.get_opportunity(current(request), opportunity_id)
    except Http404:
        if _is_fetch(request):
            return HttpResponse("This opportunity is no longer yours to see; it was left where it was.", status=404)
        raise
    try:
        done = change(opportunity)
    except DomainError as error:
        if _is_fetch(request):
            return HttpResponse(error.detail, status=error.status, content_type="text/plain; charset=utf-8")
        messages.error(request, error.detail)
    else:
        if _is_fetch(request):
            return HttpResponse(status=204)
        messages.success(request, done)
    return redirect("web:opportunity", opportunity.pk)


@login_required
@require_POST
def opportunity_move(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    form = MoveForm(request.POST)
    stage = Stage.objects.filter(pk=form.cleaned_data["stage"]).first() if form.is_valid() else None

    def move(opportunity: Opportunity) -> str:
        if stage is None:
            raise InvalidInput.on("stage", "Choose a stage.")
        services.move_opportunity(opportunity, stage=stage, by=current(request))
        return f"Moved to {stage.name}."

    return _board_answer(request, opportunity_id, move)


@login_required
@require_POST
def opportunity_close(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    form = CloseForm(request.POST)

    def close(opportunity: Opportunity) -> str:
        if not form.is_valid():
            raise InvalidInput(error_summary(form))
        services.close_opportunity(
            opportunity,
            won=form.cleaned_data["won"],
            by=current(request),
            lost_reason=form.cleaned_data["lost_reason"],
            note=form.cleaned_data["note"],
        )
        return f"Closed {opportunity.stage.name.lower()}."

    return _board_answer(request, opportunity_id, close)


@login_required
@require_POST
def opportunity_reopen(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    user = current(request)
    opportunity = selectors.get_opportunity(user, opportunity_id)
    try:
        services.reopen_opportunity(opportunity, by=user)
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Re-opened into {opportunity.stage.name}.")
    return redirect("web:opportunity", opportunity.pk)


@login_required
@require_POST
def opportunity_note(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    user = current(request)
    opportunity = selectors.get_opportunity(user, opportunity_id)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.update_opportunity(opportunity, by=user, review_note=form.cleaned_data["review_note"])
        except DomainError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, "Review note saved.")
    return redirect("web:opportunity", opportunity.pk)


@login_required
@require_POST
def opportunity_activity(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    opportunity = selectors.get_opportunity(current(request), opportunity_id)
    form = logged_activity(request, opportunity=opportunity)
    if form is None:
        return redirect("web:opportunity", opportunity.pk)
    return _opportunity_page(request, opportunity.pk, activity_form=form)


def _opportunity_page(request: HttpRequest, opportunity_id: int, **extra) -> HttpResponse:
    user = current(request)
    opportunity = selectors.get_opportunity(user, opportunity_id)
    spells = selectors.stage_spells(opportunity)
    longest = max((spell.days for spell in spells), default=0) or 1
    context = {
        "opportunity": opportunity,
        "spells": [(spell, round(100 * spell.days / longest)) for spell in spells],
        "stages": opportunity.pipeline.stages.order_by("order"),
        "activities": selectors.activity_list(user, opportunity_id=opportunity.pk).order_by("-created_at")[:50],
        "show_amounts": selectors.can_see_amounts(user),
        "can_change": not user.is_marketing,
        "lost_reasons": LostReason.objects.filter(is_active=True),
        "note_form": NoteForm(initial={"review_note": opportunity.review_note}),
        "activity_form": ActivityForm(),
        **extra,
    }
    return render(request, "web/opportunities/detail.html", context, status=422 if extra else 200)


@login_required
def opportunity_detail(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    return _opportunity_page(request, opportunity_id)
