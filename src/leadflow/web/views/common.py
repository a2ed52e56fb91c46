"""What every page view shares: pagination, htmx detection, owner choices, running a form through a service."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect

from leadflow.errors import DomainError, NotAllowed
from leadflow.imports.exports import Column, csv_lines, iterate
from leadflow.pipeline.services import log_activity
from leadflow.users.models import User

from ..forms import ActivityForm, add_domain_errors, error_summary

PER_PAGE = 25


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def page_of(request: HttpRequest, rows: QuerySet | list, per_page: int = PER_PAGE) -> Page:
    """The requested page of rows (the last page for a number past the end, the first for garbage)."""
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def assignable_users(user: User) -> list[User]:
    """Whom this user may give leads to: anyone for admin/marketing, the team for a manager, self for a rep."""
    users = User.objects.filter(is_active=True).exclude(role="marketing").order_by("first_name", "username")
    if user.is_admin or user.is_marketing:
        return list(users)
    if user.is_manager and user.team_id:
        return list(users.filter(team=user.team_id))
    return [user]


def owner_choices(user: User) -> list[tuple[str, str]]:
    return [(str(u.pk), str(u)) for u in assignable_users(user)]


def current(request: HttpRequest) -> Any:
    """The signed-in user (typed loosely: Django's request.user is a union with AnonymousUser)."""
    return request.user


def csv_download(name: str, columns: list[Column], rows: QuerySet) -> StreamingHttpResponse:
    """A filtered list as a streamed CSV download."""
    response = StreamingHttpResponse(csv_lines(columns, iterate(rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def logged_activity(request: HttpRequest, **target: Any) -> Any:
    """Log the posted activity on a lead or an opportunity; None when done, else the form with its errors."""
    form = ActivityForm(request.POST)
    if form.is_valid():
        try:
            log_activity(by=current(request), **target, **form.cleaned_data)
        except DomainError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, "Logged.")
            return None
    return form


def only_for(allowed: Callable[[User], bool]) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A view that does not exist (404) for signed-in users `allowed` refuses."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not allowed(current(request)):
                raise Http404("No such page.")
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorate


def refused_unless(
    allowed: Callable[[User], bool], reason: str
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A change the signed-in user sees but `allowed` refuses them is a 403 saying `reason`, before any form is
    read."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST" and not allowed(current(request)):
                raise PermissionDenied(reason)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def run_form(
    request: HttpRequest, form: Any, action: Callable[[dict], object], success: str, *, back: str
) -> HttpResponse:
    """Validate the form, call the service with its data, report how it went, and go back (to `next` when the
    form says where)."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except DomainError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, success)
    else:
        messages.error(request, error_summary(form))
    return redirect(request.POST.get("next") or back)


def submit_form(
    request: HttpRequest,
    form: Any,
    action: Callable[[dict], object],
    success: str | Callable[[Any], str],
    failed: Callable[[Any], HttpResponse],
    *,
    back: str | Callable[[Any], str],
) -> HttpResponse:
    """Validate the form and call the service; on success report (`success`, or what it says for what the service
    returned) and go `back` (likewise), else show the form again with each refusal on its field."""
    if form.is_valid():
        try:
            saved = action(form.cleaned_data)
        except NotAllowed as error:
            messages.error(request, error.detail)  # on top: the page may not show this user the form
        except DomainError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, success(saved) if callable(success) else success)
            return redirect(back(saved) if callable(back) else back)
    return failed(form)
