"""My day, global search, and the small actions they offer."""

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from leadflow.accounts.selectors import account_list, contact_list
from leadflow.errors import DomainError
from leadflow.leads.selectors import lead_list
from leadflow.pipeline import selectors as pipeline_selectors
from leadflow.pipeline.services import log_activity, update_activity
from leadflow.scoring.selectors import hot_leads

from ..forms import QuickLogForm
from .common import current


def _day_bounds() -> tuple[datetime, datetime]:
    today = timezone.localdate()
    start = timezone.make_aware(datetime.combine(today, time.min))
    return start, start + timedelta(days=1)


def _my_open_leads(user):
    return lead_list(user).filter(owner=user, lifecycle_stage__in=("lead", "prospect", "opportunity"))


@login_required
def my_day(request: HttpRequest, quick_form: QuickLogForm | None = None) -> HttpResponse:
    """The signed-in user's overdue and today's tasks, their new leads, and a quick call/email log."""
    user = current(request)
    start, end = _day_bounds()
    due = list(pipeline_selectors.tasks_due(user, until=end)[:100])
    context = {
        "overdue": [task for task in due if (task.due_at or start) < start],
        "today": [task for task in due if (task.due_at or start) >= start],
        "new_leads": _my_open_leads(user)
        .filter(lifecycle_stage="lead", created_at__gte=start - timedelta(days=14))
        .order_by("-created_at")[:15],
        "hot": [
            {
                "lead": score.lead,
                "score": score,
                "reasons": score.breakdown[:2],
                "next": pipeline_selectors.next_task(score.lead),
            }
            for score in hot_leads(user)[:8]
        ],
        "quick_form": quick_form or QuickLogForm(),
        "quick_leads": _my_open_leads(user).order_by("-last_activity_at", "-created_at")[:100],
    }
    return render(request, "web/my_day.html", context, status=422 if quick_form else 200)


@login_required
@require_POST
def quick_log(request: HttpRequest) -> HttpResponse:
    user = current(request)
    form = QuickLogForm(request.POST)
    if form.is_valid():
        lead = lead_list(user).filter(pk=form.cleaned_data["lead"]).first()
        if lead is None:
            form.add_error("lead", "Choose one of your leads.")
        else:
            data = {k: v for k, v in form.cleaned_data.items() if k != "lead"}
            try:
                log_activity(by=user, lead=lead, **data)
            except DomainError as error:
                form.add_error(None, error.detail)
            else:
                messages.success(request, f"Logged a {data['kind']} with {lead.contact}.")
                return redirect("web:my_day")
    return my_day(request, quick_form=form)


@login_required
@require_POST
def task_done(request: HttpRequest, activity_id: int) -> HttpResponse:
    user = current(request)
    task = pipeline_selectors.get_activity(user, activity_id)
    try:
        update_activity(task, by=user, is_done=True)
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Done: {task.subject}.")
    return redirect(request.POST.get("next") or "web:my_day")


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """People, companies, leads and opportunities matching a name, email or domain."""
    user = current(request)
    term = request.GET.get("q", "").strip()
    results: dict = {"term": term}
    if len(term) >= 2:
        results.update(
            leads=lead_list(user, search=term)[:10],
            contacts=contact_list(search=term)[:10],
            accounts=account_list(search=term)[:10],
            opportunities=pipeline_selectors.opportunity_list(user, search=term)[:10],
        )
    return render(request, "web/search.html", results)
