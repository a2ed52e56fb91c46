"""Settings, for admins: pipelines and stages, lost reasons, users, teams and roles."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leadflow.errors import DomainError
from leadflow.pipeline import services as pipeline_services
from leadflow.pipeline.models import LostReason, Pipeline, Stage
from leadflow.pipeline.selectors import pipelines_with_stages
from leadflow.users import services as user_services
from leadflow.users.models import Team, User
from leadflow.users.signin import locked_usernames

from ..forms import NameForm, NewStageForm, NewUserForm, StageForm, UserForm
from .common import current, only_for, run_form

admin_only = only_for(lambda user: user.is_admin)  # settings do not exist for anyone but an admin


def _run(request: HttpRequest, form, action: Callable[[dict], object], success: str) -> HttpResponse:
    """Validate the form, call the service, report, and go back to the settings page."""
    return run_form(request, form, action, success, back="web:settings")


@admin_only
def settings_page(request: HttpRequest) -> HttpResponse:
    users = list(User.objects.select_related("team").order_by("-is_active", "role", "username"))
    context = {
        "pipelines": pipelines_with_stages(),
        "lost_reasons": LostReason.objects.order_by("-is_active", "name"),
        "users": users,
        "locked": locked_usernames([member.username for member in users]),
        "teams": Team.objects.order_by("name"),
        "new_stage_form": NewStageForm(),
        "new_user_form": NewUserForm(),
        "user_form": UserForm(),
    }
    return render(request, "web/settings.html", context)


@admin_only
@require_POST
def stage_update(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = get_object_or_404(Stage, pk=stage_id)
    user = current(request)
    return _run(
        request,
        StageForm(request.POST),
        lambda d: pipeline_services.update_stage(stage, by=user, name=d["name"], probability=d["probability"]),
        "Stage saved.",
    )


@admin_only
@require_POST
def stage_move(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = get_object_or_404(Stage, pk=stage_id)
    step = -1 if request.POST.get("direction") == "up" else 1
    try:
        pipeline_services.move_stage(stage, by=current(request), step=step)
    except DomainError as error:
        messages.error(request, error.detail)
    return redirect("web:settings")


@admin_only
@require_POST
def stage_delete(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = get_object_or_404(Stage, pk=stage_id)
    try:
        pipeline_services.delete_stage(stage, by=current(request))
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Stage {stage.name} deleted.")
    return redirect("web:settings")


@admin_only
@require_POST
def stage_add(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline, pk=pipeline_id)
    user = current(request)
    return _run(
        request,
        NewStageForm(request.POST),
        lambda d: pipeline_services.add_stage(
            pipeline,
            by=user,
            name=d["name"],
            probability=d["probability"],
            is_won=d["kind"] == "won",
            is_lost=d["kind"] == "lost",
        ),
        "Stage added.",
    )


@admin_only
@require_POST
def pipeline_add(request: HttpRequest) -> HttpResponse:
    user = current(request)
    return _run(
        request,
        NameForm(request.POST),
        lambda d: pipeline_services.create_pipeline(by=user, name=d["name"]),
        "Pipeline added.",
    )


@admin_only
@require_POST
def lost_reason_add(request: HttpRequest) -> HttpResponse:
    user = current(request)
    return _run(
        request,
        NameForm(request.POST),
        lambda d: pipeline_services.add_lost_reason(by=user, name=d["name"]),
        "Lost reason added.",
    )


@admin_only
@require_POST
def lost_reason_toggle(request: HttpRequest, reason_id: int) -> HttpResponse:
    reason = get_object_or_404(LostReason, pk=reason_id)
    pipeline_services.set_lost_reason_active(reason, by=current(request), is_active=not reason.is_active)
    return redirect("web:settings")


@admin_only
@require_POST
def user_update(request: HttpRequest, user_id: int) -> HttpResponse:
    target = get_object_or_404(User, pk=user_id)
    user = current(request)
    return _run(
        request,
        UserForm(request.POST),
        lambda d: user_services.update_user(target, by=user, role=d["role"], team=d["team"], is_active=d["is_active"]),
        f"{target.username} saved.",
    )


@admin_only
@require_POST
def user_add(request: HttpRequest) -> HttpResponse:
    def create(data: dict) -> User:
        team = data.pop("team")
        return user_services.create_user(team_name=team.name if team else None, **data)

    return _run(request, NewUserForm(request.POST), create, "User added.")


@admin_only
@require_POST
def team_add(request: HttpRequest) -> HttpResponse:
    user = current(request)
    return _run(
        request, NameForm(request.POST), lambda d: user_services.create_team(by=user, name=d["name"]), "Team added."
    )
