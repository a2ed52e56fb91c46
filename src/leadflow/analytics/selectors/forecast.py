"""The forecast by close month, learned win rates, and the backtest of forecast methods."""

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import (
    Aggregate,
    Count,
    F,
    IntegerField,
    QuerySet,
    Sum,
)
from django.utils import timezone

from leadflow.pipeline.models import (
    ForecastSnapshot,
    ForecastSnapshotDeal,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
    Stage,
)
from leadflow.pipeline.selectors import (
    BACKTEST_MONTHS,
    month_starts,
    newest_move,
    open_spells,
    spell_covers,
)

from .funnel import _bisect
from .pipeline import _probability
from .scope import Scope, _scoped
from .velocity import _reach, _reach_from


def learned_win_rates(scope: Scope, pipeline: Pipeline) -> dict[int, float]:
    """For each open stage, the share of the closed deals that reached it that were won."""
    stages = list(pipeline.stages.all())
    reached, _ = _reach(scope.deals().filter(pipeline=pipeline, stage__in=[s for s in stages if s.is_closed]), stages)
    return _win_rates(reached, stages)


def _win_rates(reached: dict[int, int], stages: list[Stage]) -> dict[int, float]:
    """Per open stage, won deals ÷ closed deals that reached it (from `_reach` over closed deals)."""
    won = sum(reached[stage.pk] for stage in stages if stage.is_won)
    return {stage.pk: won / reached[stage.pk] for stage in stages if not stage.is_closed and reached[stage.pk]}


def forecast(scope: Scope, pipeline: Pipeline) -> list[dict[str, Any]]:
    """Expected revenue by close month from open deals: weighted by stage probability and by the win rates the
    closed deals teach; and the commit (≥ 70 %), best case (≥ 40 %) and pipeline categories."""
    learned = learned_win_rates(scope, pipeline)
    months: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    rows = (
        scope.deals()
        .filter(pipeline=pipeline, closed_at__isnull=True)
        .annotate(p=_probability())
        .values_list("expected_close_date", "stage_id", "p")
        .annotate(value=Sum("amount"))
        .order_by()
    )
    today = timezone.localdate()
    for close_date, stage, probability, amount in rows:
        month = (close_date or today).strftime("%Y-%m")
        value = float(amount)
        bucket = months[month]
        bucket["pipeline_value"] += value
        bucket["weighted_by_stage"] += value * probability / 100
        bucket["weighted_by_history"] += value * learned.get(stage, probability / 100)
        category = "commit" if probability >= 70 else "best_case" if probability >= 40 else "pipeline"
        bucket[category] += value
    return [
        {"month": month, **{key: round(bucket.get(key, 0.0), 2) for key in (
            "pipeline_value", "weighted_by_stage", "weighted_by_history", "commit", "best_case", "pipeline")}}
        for month, bucket in sorted(months.items())
    ]  # fmt: skip


def _open_at(moments: list[datetime], pipeline: Pipeline, deals: QuerySet[Opportunity]) -> dict[datetime, list]:
    """Per month start, the scoped deals then open, counted and valued (`deals`, `value`) by the stage they were
    in then and the stage they are in now (`then`, `now`): from the forecast snapshots where stored (grouped by
    snapshot), else from the history spells (a count filtered by month, in one pass)."""

    def grouped(rows: QuerySet, stage_then: str, *by: str, **figures: Aggregate) -> QuerySet:
        return rows.values(*by, then=F(stage_then), now=F("opportunity__stage")).annotate(**figures).order_by()

    found: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    snapshots = dict(ForecastSnapshot.objects.filter(pipeline=pipeline, as_of__in=moments).values_list("pk", "as_of"))
    stored = _scoped(ForecastSnapshotDeal.objects.filter(snapshot__in=list(snapshots)), "opportunity", deals)
    for group in grouped(stored, "stage", "snapshot", deals=Count("id"), value=Sum("opportunity__amount")):
        found[snapshots[group["snapshot"]]].append(group)
    missing = [moment for moment in moments if moment not in snapshots.values()]
    if missing:
        spells = _scoped(open_spells(pipeline), "opportunity", deals)
        spells = spells.filter(at__lte=missing[-1]).exclude(left_at__lte=missing[0])
        figures: dict[str, Aggregate] = {}
        for i, moment in enumerate(missing):
            figures[f"deals_{i}"] = Count("id", filter=spell_covers(moment))
            figures[f"value_{i}"] = Sum("opportunity__amount", filter=spell_covers(moment))
        for group in grouped(spells, "to_stage", **figures):
            for i, moment in enumerate(missing):
                if group[f"deals_{i}"]:
                    found[moment].append({**group, "deals": group[f"deals_{i}"], "value": group[f"value_{i}"]})
    return found


def forecast_backtest(scope: Scope, pipeline: Pipeline, *, months: int = BACKTEST_MONTHS) -> dict[str, Any]:
    """How far each forecast method would have been from what closed: at the start of each of the last `months`
    months of the deal history, the deals then open (in the stage they were in then) are weighted by stage
    probability and by the win rates learned from the deals closed before that day; both are set beside the value
    of those deals won since, and what is still open. The mean miss counts the months whose deals have mostly been
    decided (at most half their value still open). (Amounts are today's; past probability overrides are not
    kept, so stage probabilities stand in for them.) Which deals were open when is read from the forecast
    snapshots the worker stores, kept in step with the history; a month without one is worked out from the
    history, to the same figures."""
    stages = list(pipeline.stages.all())
    deals = scope.deals()
    latest = newest_move(pipeline, _scoped(OpportunityStageChange.objects.all(), "opportunity", deals))
    if latest is None:
        return {"as_of": [], "mean_abs_error_pct": {"by_stage": None, "by_history": None}}
    moments = month_starts(latest, months)
    open_then = _open_at(moments, pipeline, deals)
    # The closed deals by the first month start they had closed by (those closed since the last teach nothing yet).
    closed_by = _bisect("closed_at__lte", moments[:-1], list(range(len(moments))), IntegerField())
    closed = deals.filter(pipeline=pipeline, stage__in=[s for s in stages if s.is_closed], closed_at__lte=moments[-1])
    closings = list(closed.values("stage", "furthest_stage", month=closed_by).annotate(n=Count("*")).order_by())
    probability = {stage.pk: stage.probability / 100 for stage in stages}
    won_ids = {stage.pk for stage in stages if stage.is_won}
    lost_ids = {stage.pk for stage in stages if stage.is_lost}
    rows: list[dict[str, Any]] = []
    for i, moment in enumerate(moments):
        closed_then = ((c["stage"], c["furthest_stage"], c["n"]) for c in closings if c["month"] <= i)
        learned = _win_rates(_reach_from(closed_then, stages)[0], stages)
        row = dict.fromkeys(["open_deals", "pipeline_value", "weighted_by_stage", "weighted_by_history", "won_since",
                             "still_open"], 0.0)  # fmt: skip
        for group in open_then[moment]:
            value = float(group["value"] or 0)
            stage_then, stage_now = group["then"], group["now"]
            row["open_deals"] += group["deals"]
            row["pipeline_value"] += value
            row["weighted_by_stage"] += value * probability[stage_then]
            row["weighted_by_history"] += value * learned.get(stage_then, probability[stage_then])
            if stage_now in won_ids:
                row["won_since"] += value
            elif stage_now not in lost_ids:
                row["still_open"] += value
        day = timezone.localtime(moment).date().isoformat()
        rows.append({"as_of": day, **{key: round(value, 2) for key, value in row.items()}})
        rows[-1]["open_deals"] = int(row["open_deals"])
        # Judged only once most of the value then open has been decided.
        rows[-1]["settled"] = row["still_open"] <= row["pipeline_value"] / 2

    def error(method: str) -> float | None:
        misses = [abs(r[method] - r["won_since"]) / r["won_since"] for r in rows if r["won_since"] and r["settled"]]
        return round(100 * sum(misses) / len(misses), 1) if misses else None

    return {
        "as_of": rows,
        "mean_abs_error_pct": {"by_stage": error("weighted_by_stage"), "by_history": error("weighted_by_history")},
    }
