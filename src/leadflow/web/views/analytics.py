"""The analytics dashboard: KPI tiles and charts, each with its table and a CSV link."""

from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from leadflow.analytics.reports import run_report
from leadflow.analytics.selectors import Scope
from leadflow.leads.models import LeadSource
from leadflow.pipeline.selectors import can_see_amounts
from leadflow.users.models import Team

from .common import current, owner_choices


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _scope(request: HttpRequest) -> Scope:
    """The signed-in user's view, sliced by the dashboard's filters (unreadable values are ignored)."""
    params = request.GET
    owner, team, source = params.get("owner", ""), params.get("team", ""), params.get("source", "")
    return Scope(
        user=current(request),
        since=_date(params.get("since", "")),
        until=_date(params.get("until", "")),
        source=source if source in LeadSource.values else None,
        owner_id=int(owner) if owner.isdigit() else None,
        team_id=int(team) if team.isdigit() else None,
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = current(request)
    params = request.GET
    owner, team, source = params.get("owner", ""), params.get("team", ""), params.get("source", "")
    scope = _scope(request)
    show_amounts = can_see_amounts(user)
    context = {
        "kpis": run_report("kpis", scope),
        "velocity": run_report("velocity", scope),
        "lifecycle_times": run_report("lifecycle-times", scope),
        "stale": run_report("stale", scope)[:10],
        "losses": run_report("losses", scope),
        "review": run_report("pipeline-review", scope),
        "backtest": run_report("forecast-backtest", scope) if show_amounts else None,
        "query": params.urlencode(),
        "filters": {
            "since": params.get("since", ""),
            "until": params.get("until", ""),
            "owner": owner,
            "team": team,
            "source": source,
        },
        "owners": owner_choices(user),
        "teams": Team.objects.order_by("name"),
        "sources": LeadSource.choices,
        "show_amounts": show_amounts,
    }
    return render(request, "web/analytics.html", context)
