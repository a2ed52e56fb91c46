"""CSV exports of the filtered lists, streamed."""

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router

from leadflow.imports.exports import csv_lines, export_rows, iterate
from leadflow.leads.models import LeadSource, LifecycleStage

from .auth import current_user
from .columns import Id, Text

router = Router(tags=["exports"])


def _csv(request: HttpRequest, kind: Text, filters: dict) -> StreamingHttpResponse:
    columns, rows = export_rows(kind, current_user(request), filters)
    response = StreamingHttpResponse(csv_lines(columns, iterate(rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{kind}.csv"'
    return response


@router.get("/leads/export.csv")
def export_leads(
    request: HttpRequest,
    lifecycle_stage: LifecycleStage | None = None,
    source: LeadSource | None = None,
    owner_id: Id | None = None,
    search: Text | None = None,
) -> StreamingHttpResponse:
    """The leads the caller may see, with the list's filters, as CSV."""
    filters = {"lifecycle_stage": lifecycle_stage, "source": source, "owner_id": owner_id, "search": search}
    return _csv(request, "leads", filters)


@router.get("/contacts/export.csv")
def export_contacts(request: HttpRequest, search: Text | None = None) -> StreamingHttpResponse:
    return _csv(request, "contacts", {"search": search})


@router.get("/accounts/export.csv")
def export_accounts(request: HttpRequest, search: Text | None = None) -> StreamingHttpResponse:
    return _csv(request, "accounts", {"search": search})


@router.get("/opportunities/export.csv")
def export_opportunities(
    request: HttpRequest, is_open: bool | None = None, stage_id: Id | None = None, search: Text | None = None
) -> StreamingHttpResponse:
    """The opportunities the caller may see as CSV (without amounts for marketing)."""
    return _csv(request, "opportunities", {"is_open": is_open, "stage_id": stage_id, "search": search})
