"""Writes for analytics: taking the weekly pipeline snapshot."""

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from leadflow.pipeline.models import Opportunity, Pipeline

from .models import PipelineSnapshot, SnapshotDeal

KEEP_CLOSED = timedelta(days=365)  # closed deals stay in snapshots this long, so a review can see them close


def week_of(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


@transaction.atomic
def take_snapshot(pipeline: Pipeline, *, on: date | None = None) -> tuple[PipelineSnapshot, bool]:
    """The pipeline's snapshot for the week of `on` (today by default): its open deals and those closed in the
    last year, with stage, amount and expected close date. Taken once a week; returns (snapshot, taken now)."""
    monday = week_of(on or timezone.localdate())
    snapshot, created = PipelineSnapshot.objects.get_or_create(pipeline=pipeline, week_of=monday)
    if not created:
        return snapshot, False
    recent = timezone.now() - KEEP_CLOSED
    deals = Opportunity.objects.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=recent), pipeline=pipeline)
    rows = (
        SnapshotDeal(snapshot=snapshot, opportunity_id=pk, stage_id=stage, amount=amount, expected_close_date=close)
        for pk, stage, amount, close in deals.values_list("pk", "stage", "amount", "expected_close_date").iterator()
    )
    SnapshotDeal.objects.bulk_create(rows, batch_size=2000)
    return snapshot, True


def take_weekly_snapshots() -> int:
    """This week's snapshot of every pipeline that has none yet (the worker calls it on a schedule); returns how
    many were taken."""
    return sum(take_snapshot(pipeline)[1] for pipeline in Pipeline.objects.all())
