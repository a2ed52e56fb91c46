"""Forecast snapshots: the open pipeline as it stood at each month's start, stored for the backtest."""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet, Subquery
from django.utils import timezone

from leadflow.history import chunks, most_or_all

from ..models import (
    ForecastSnapshot,
    ForecastSnapshotDeal,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
    Stage,
)
from ..selectors import BACKTEST_MONTHS, month_starts, newest_move


def _store_open_deals(snapshots: QuerySet[ForecastSnapshot], opportunity_ids: list[int] | None = None) -> None:
    """Write the snapshots' rows (of these deals only, when given) from the stage history: each deal whose spell in
    an open stage of the snapshot's pipeline covers the snapshot's moment (as `spell_covers` has it), in that stage.

    One INSERT ... SELECT for all the snapshots, going once through the history (SQLite takes the left side of a
    CROSS JOIN as the outer loop; PostgreSQL plans it as a join): a query per snapshot, or a plan that probes the
    history by stage for each snapshot, reads most of it each time (1.3 s and 0.7 s for six months of a 100k
    import, against 0.06 s)."""
    deals, spell, stage, snapshot = (
        connection.ops.quote_name(model._meta.db_table)
        for model in (ForecastSnapshotDeal, OpportunityStageChange, Stage, ForecastSnapshot)
    )
    taken, params = snapshots.order_by().values("pk").query.sql_with_params()
    of_deals = ""
    if opportunity_ids is not None:  # the outer loop then reads these deals' spells by index
        of_deals = f"AND spell.opportunity_id IN ({', '.join(['%s'] * len(opportunity_ids))})"
        params = (*params, *opportunity_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {deals} (snapshot_id, opportunity_id, stage_id) "
            "SELECT snapshot.id, spell.opportunity_id, spell.to_stage_id "
            f"FROM {spell} AS spell CROSS JOIN {stage} AS stage CROSS JOIN {snapshot} AS snapshot "
            "WHERE stage.id = spell.to_stage_id AND NOT stage.is_won AND NOT stage.is_lost "
            "AND snapshot.pipeline_id = stage.pipeline_id AND spell.at <= snapshot.as_of "
            f"AND (spell.left_at IS NULL OR spell.left_at > snapshot.as_of) AND snapshot.id IN ({taken}) {of_deals}",
            params,
        )


def refresh_forecast_snapshots(opportunity_ids: Sequence[int] | None = None, *, since: datetime | None = None) -> None:
    """Rewrite these deals' rows (every deal's when None) in the stored forecast snapshots (those as of `since` or
    later) from their stage history as it now stands, so a back-dated move or an imported history shows in the
    months it reaches into. A move made now reaches none."""
    snapshots = ForecastSnapshot.objects.all()
    if since is not None:
        snapshots = snapshots.filter(as_of__gte=since)
    ids = most_or_all(Opportunity, opportunity_ids)
    if ids is None:
        ForecastSnapshotDeal.objects.filter(snapshot__in=snapshots).delete()
        _store_open_deals(snapshots)
        return
    for chunk in chunks(ids):
        ForecastSnapshotDeal.objects.filter(snapshot__in=snapshots, opportunity__in=chunk).delete()
        # Only the months that began after the first of these deals' moves can hold them.
        first_move = OpportunityStageChange.objects.filter(opportunity__in=chunk).order_by("at").values("at")[:1]
        _store_open_deals(snapshots.filter(as_of__gte=Subquery(first_move)), chunk)


@transaction.atomic
def take_forecast_snapshots() -> int:
    """Store the forecast snapshots a backtest reads that are missing: for each pipeline, the BACKTEST_MONTHS
    month starts up to the month of its newest move, and every month between them and the earliest one stored
    (the worker calls it on a schedule, the import after writing history). Returns how many were taken."""
    taken: list[int] = []
    for pipeline in Pipeline.objects.all():
        latest = newest_move(pipeline)
        if latest is None:
            continue
        stored = set(pipeline.forecast_snapshots.values_list("as_of", flat=True))
        first, last = (timezone.localtime(moment).date() for moment in (min(stored, default=latest), latest))
        count = max(BACKTEST_MONTHS, (last.year - first.year) * 12 + last.month - first.month + 1)
        for as_of in month_starts(latest, count):
            if as_of not in stored:
                snapshot, created = ForecastSnapshot.objects.get_or_create(pipeline=pipeline, as_of=as_of)
                if created:
                    taken.append(snapshot.pk)
    if taken:
        _store_open_deals(ForecastSnapshot.objects.filter(pk__in=taken))
    return len(taken)
