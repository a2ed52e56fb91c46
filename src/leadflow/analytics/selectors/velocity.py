"""Velocity and bottlenecks: time in each stage, where deals wait or drop, stale deals."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from leadflow.history import epoch_days, qualified_column
from leadflow.leads.models import LifecycleStage, StageChange
from leadflow.pipeline.models import (
    Activity,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
    Stage,
)

from .kpis import _deal_figures, _deal_rows, _deal_sums
from .scope import Scope, _history, _ratio


class UpperMedian(Aggregate):
    """PostgreSQL's middle value of a group (the upper of the two middle ones for an even count), in the same pass
    as the group's other aggregates."""

    function = "percentile_disc"
    # Just past 0.5: the first value whose cumulative share exceeds a half, i.e. the (n // 2)-th, counting from 0.
    template = "%(function)s(0.5000000001) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _stage_durations(history: QuerySet) -> dict[Any, dict[str, Any]]:
    """Average and median (the upper middle value) days spent in each stage, over the spells that have ended (kept
    on the history rows): one pass on PostgreSQL; elsewhere the median is read per stage off the index."""
    ended = history.filter(days_in_stage__isnull=False)
    in_one_pass = connection.vendor == "postgresql"
    figures = {"average": Avg("days_in_stage"), "spells": Count("*")}
    if in_one_pass:
        figures["median"] = UpperMedian("days_in_stage")
    result = {}
    for row in ended.values("to_stage").annotate(**figures).order_by():
        if in_one_pass:
            median = row["median"]
        else:
            spells = ended.filter(to_stage=row["to_stage"]).order_by("days_in_stage")
            median = spells.values_list("days_in_stage", flat=True)[row["spells"] // 2]
        result[row["to_stage"]] = {
            "avg_days": round(row["average"], 1),
            "median_days": round(median, 1),
            "spells": row["spells"],
        }
    return result


def lifecycle_times(scope: Scope) -> list[dict[str, Any]]:
    """Average and median days leads spend in each lifecycle stage before their next step."""
    durations = _stage_durations(_history(StageChange, "lead", scope.leads()))
    empty = {"avg_days": None, "median_days": None, "spells": 0}
    return [{"stage": stage, **durations.get(stage, empty)} for stage in LifecycleStage.values if stage != "customer"]


def _reach(deals: QuerySet[Opportunity], stages: list[Stage]) -> tuple[dict[int, int], dict[int, int]]:
    """Per stage: how many deals reached it, and how many were lost having got no further. As in the funnel, a
    skipped stage counts as passed: a deal reached every open stage up to its furthest, a won deal all of them.
    One pass over the (pipeline, stage, furthest stage) index."""
    return _reach_from(deals.values_list("stage", "furthest_stage").annotate(n=Count("*")).order_by(), stages)


def _reach_from(
    counts: Iterable[tuple[int, int | None, int]], stages: list[Stage]
) -> tuple[dict[int, int], dict[int, int]]:
    """`_reach` from (current stage, furthest stage, deals) counts."""
    order: dict[int | None, int] = {stage.pk: stage.order for stage in stages}
    order[None] = -1  # no open stage reached
    reached: dict[int, int] = defaultdict(int)
    lost_from: dict[int, int] = defaultdict(int)
    won, lost = {s.pk for s in stages if s.is_won}, {s.pk for s in stages if s.is_lost}
    for stage, furthest, count in counts:
        if stage in lost or stage in won:
            reached[stage] += count
        if stage in lost and furthest is not None:
            lost_from[furthest] += count
        furthest_order = max(order.values()) if stage in won else order[furthest]
        for passed in stages:
            if not passed.is_closed and passed.order <= furthest_order:
                reached[passed.pk] += count
    return reached, lost_from


def velocity(scope: Scope, pipeline: Pipeline) -> dict[str, Any]:
    """Time in each deal stage, the sales-velocity figure, and where deals wait or drop."""
    deals = scope.deals().filter(pipeline=pipeline)
    stages = list(pipeline.stages.order_by("order"))
    moves = _history(OpportunityStageChange, "opportunity", scope.deals(), to_stage__in=stages)
    in_stage = _stage_durations(moves)
    deal_rows = _deal_rows(deals, "furthest_stage")
    figures = _deal_figures(_deal_sums(deal_rows).values())
    cycle = figures["avg_sales_cycle_days"]
    reached, lost_from = _reach_from(((row["stage"], row["furthest_stage"], row["n"]) for row in deal_rows), stages)
    # An open deal's current spell is its newest move, the one that has not ended, into an open stage.
    entered = RawSQL(epoch_days(qualified_column(OpportunityStageChange, "at")), ())
    waiting = {
        row["to_stage"]: row
        for row in moves.filter(left_at__isnull=True, to_stage__in=[stage for stage in stages if not stage.is_closed])
        .values("to_stage")
        .annotate(open=Count("*"), entered=Avg(entered, output_field=FloatField()))
        .order_by()
    }
    today = timezone.now().timestamp() / 86400  # in days since 1970, like `entered`
    open_deals = sum(row["open"] for row in waiting.values())
    sales_velocity = (
        round(open_deals * figures["win_rate"] * figures["avg_deal_size_won"] / cycle, 2)
        if cycle and figures["win_rate"] is not None and figures["avg_deal_size_won"]
        else None
    )
    stage_rows = []
    for stage in stages:
        history = in_stage.get(stage.pk, {})
        now_waiting = waiting.get(stage.pk, {})
        avg_age = round(today - now_waiting["entered"], 1) if now_waiting.get("entered") is not None else None
        typical = history.get("avg_days")
        stage_rows.append(
            {
                "stage": stage.name,
                "is_closed": stage.is_closed,
                "avg_days": None if stage.is_closed else typical,
                "median_days": None if stage.is_closed else history.get("median_days"),
                "reached": reached.get(stage.pk, 0),
                "lost_from_here": lost_from.get(stage.pk, 0),
                "drop_rate": _ratio(lost_from.get(stage.pk, 0), reached.get(stage.pk, 0)),
                "open_now": now_waiting.get("open", 0),
                "avg_age_open_days": avg_age,
                "waiting_vs_history": round(avg_age / typical, 2) if avg_age and typical else None,
            }
        )
    open_rows = [row for row in stage_rows if not row["is_closed"]]
    slowest = max(open_rows, key=lambda r: r["waiting_vs_history"] or 0, default=None)
    leakiest = max(open_rows, key=lambda r: r["drop_rate"] or 0, default=None)
    return {
        "stages": stage_rows,
        "open_opportunities": open_deals,
        "sales_velocity_per_day": sales_velocity,
        "bottlenecks": {
            "longest_wait": slowest["stage"] if slowest and slowest["waiting_vs_history"] else None,
            "most_drop": leakiest["stage"] if leakiest and leakiest["drop_rate"] else None,
        },
    }


def stale_deals(scope: Scope, *, idle_days: int = 30, limit: int = 50) -> list[dict[str, Any]]:
    """Open deals past their expected close date (most overdue first), then those with no activity for
    `idle_days` (nothing done on the deal, nothing from or with its lead: calls, emails, visits), the never
    touched first, then the longest quiet. Each part stops at `limit` (the never-touched, being few, are read whole)."""
    today = timezone.localdate()
    quiet_since = timezone.now() - timedelta(days=idle_days)
    open_deals = scope.deals().filter(closed_at__isnull=True)
    overdue = open_deals.filter(expected_close_date__lt=today).order_by("expected_close_date", "pk")
    picked = list(overdue.values_list("pk", flat=True)[:limit])
    done_lately = Activity.objects.filter(opportunity=OuterRef("pk"), is_done=True, done_at__gte=quiet_since)
    quiet = open_deals.exclude(expected_close_date__lt=today).exclude(Exists(done_lately))
    untouched = quiet.filter(lead__isnull=False, lead__last_activity_at__isnull=True).values_list("pk", flat=True)
    for first in (
        lambda count: quiet.filter(lead__isnull=True).order_by("pk").values_list("pk", flat=True)[:count],
        # Deals whose lead was never touched are rare: asked for the first few by id, PostgreSQL walks every open
        # deal by id hoping to meet them early; asked for all, it finds them from the leads' side.
        lambda count: sorted(untouched)[:count],
        lambda count: (
            quiet.filter(lead__last_activity_at__lt=quiet_since)
            .order_by("lead__last_activity_at", "pk")
            .values_list("pk", flat=True)[:count]
        ),
    ):
        if len(picked) < limit:
            picked += list(first(limit - len(picked)))
    done_on_deal = Subquery(
        Activity.objects.filter(opportunity=OuterRef("pk"), is_done=True).order_by("-done_at").values("done_at")[:1]
    )
    lead_touch = F("lead__last_activity_at")
    last_touch = Greatest(Coalesce(done_on_deal, lead_touch), Coalesce(lead_touch, done_on_deal))
    found = (
        Opportunity.objects.filter(pk__in=picked)
        .select_related("stage", "owner")
        .annotate(last_touch=last_touch)
        .in_bulk()
    )
    deals = [found[pk] for pk in picked]
    return [
        {
            "id": deal.pk,
            "name": deal.name,
            "stage": deal.stage.name,
            "owner": deal.owner.username if deal.owner else "",
            "amount": float(deal.amount),
            "expected_close_date": deal.expected_close_date.isoformat() if deal.expected_close_date else None,
            "last_activity": deal.last_touch.isoformat() if deal.last_touch else None,
            "why": "past expected close"
            if deal.expected_close_date and deal.expected_close_date < today
            else f"no activity for {idle_days}+ days",
        }
        for deal in deals
    ]
