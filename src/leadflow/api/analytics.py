"""Analytics: the same reports as the dashboard and `leadflow report`, as JSON."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from leadflow.analytics.reports import REPORTS, csv_text, run_report
from leadflow.analytics.selectors import Scope
from leadflow.leads.models import LeadSource
from leadflow.pipeline.models import Pipeline

from .auth import current_user
from .columns import Date, Id, Text

router = Router(tags=["analytics"])


class Filters(Schema):
    since: Date | None = None
    until: Date | None = None
    source: LeadSource | None = None
    owner_id: Id | None = None
    team_id: Id | None = None
    pipeline_id: Id | None = None


def _run(request: HttpRequest, name: Text, filters: Filters, *, table: bool) -> Any:
    if name not in REPORTS:
        raise Http404(f"No report {name!r}; reports: {', '.join(REPORTS)}.")
    scope = Scope(
        user=current_user(request),
        since=filters.since,
        until=filters.until,
        source=filters.source,
        owner_id=filters.owner_id,
        team_id=filters.team_id,
    )
    pipeline = Pipeline.objects.filter(pk=filters.pipeline_id).first() if filters.pipeline_id else None
    return run_report(name, scope, pipeline, table=table)


@router.get("/analytics/{name}.csv")
def report_csv(request: HttpRequest, name: Text, filters: Query[Filters]) -> HttpResponse:
    """The report's table as CSV."""
    response = HttpResponse(csv_text(_run(request, name, filters, table=True)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@router.get("/analytics/{name}")
def report(request: HttpRequest, name: Text, filters: Query[Filters]) -> Any:
    """One report (kpis, funnel, funnel-by-source, funnel-by-cohort, funnel-by-owner, pipeline, velocity,
    stale, forecast, losses, pipeline-review) for the caller's view, filtered by period, source, owner and team."""
    return _run(request, name, filters, table=False)
