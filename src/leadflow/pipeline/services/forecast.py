"""Forecast snapshots: the open pipeline as it stood at each month's start, stored for the backtest."""

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone

from leadflow.history import chunks, most_or_all

from ..models import (
    ForecastSnapshot,
    ForecastSnapshotDeal,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
)
from ..selectors import BACKTEST_MONTHS, month_starts, newest_move, open_spells, spell_covers


def _store_open_deals(snapshot: ForecastSnapshot, opportunity_ids: list[int] | None = None) -> None:
    """Write the snapshot's rows (of these deals only, when given) from the stage history."""
    spells = open_spells(snapshot.pipeline).filter(spell_covers(snapshot.as_of))
    if opportunity_ids is not None:
        spells = spells.filter(opportunity__in=opportunity_ids)
    rows = (
        ForecastSnapshotDeal(snapshot=snapshot, opportunity_id=deal, stage_id=stage)
        for deal, stage in spells.values_list("opportunity", "to_stage").iterator()
    )
    ForecastSnapshotDeal.objects.bulk_create(rows, batch_size=2000)


def refresh_forecast_snapshots(opportunity_ids: Sequence[int] | None = None, *, since: datetime | None = None) -> None:
    """Rewrite these deals' rows (every deal's when None) in the stored forecast snapshots (those as of `since` or
    later) from their stage history as it now stands, so a back-dated move or an imported history shows in the
    months it reaches into. A move made now reaches none."""
    snapshots = ForecastSnapshot.objects.select_related("pipeline")
    if since is not None:
        snapshots = snapshots.filter(as_of__gte=since)
    ids = most_or_all(Opportunity, opportunity_ids)
    if ids is None:
        ForecastSnapshotDeal.objects.filter(snapshot__in=snapshots).delete()
        for snapshot in snapshots:
            _store_open_deals(snapshot)
        return
    for chunk in chunks(ids):
        ForecastSnapshotDeal.objects.filter(snapshot__in=snapshots, opportunity__in=chunk).delete()
        # Only the months that began after the first of these deals' moves can hold them.
        first_move = OpportunityStageChange.objects.filter(opportunity__in=chunk).order_by("at").values("at")[:1]
        for snapshot in snapshots.filter(as_of__gte=Subquery(first_move)):
            _store_open_deals(snapshot, chunk)


@transaction.atomic
def take_forecast_snapshot(pipeline: Pipeline, *, as_of: datetime) -> tuple[ForecastSnapshot, bool]:
    """The pipeline's forecast snapshot as of a month's first moment, worked out from the stage history when it is
    not stored yet; returns (snapshot, taken now)."""
    snapshot, created = ForecastSnapshot.objects.get_or_create(pipeline=pipeline, as_of=as_of)
    if created:
        _store_open_deals(snapshot)
    return snapshot, created


def take_forecast_snapshots() -> int:
    """Store the forecast snapshots a backtest reads that are missing: for each pipeline, the BACKTEST_MONTHS
    month starts up to the month of its newest move, and every month between them and the earliest one stored
    (the worker calls it on a schedule, the import after writing history). Returns how many were taken."""
    taken = 0
    for pipeline in Pipeline.objects.all():
        latest = newest_move(pipeline)
        if latest is None:
            continue
        stored = set(pipeline.forecast_snapshots.values_list("as_of", flat=True))
        first, last = (timezone.localtime(moment).date() for moment in (min(stored, default=latest), latest))
        count = max(BACKTEST_MONTHS, (last.year - first.year) * 12 + last.month - first.month + 1)
        for as_of in month_starts(latest, count):
            if as_of not in stored:
                taken += take_forecast_snapshot(pipeline, as_of=as_of)[1]
    return taken
