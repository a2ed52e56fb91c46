"""Pipeline analytics, computed in the database over the history rows: KPIs, funnel, pipeline, velocity,
bottlenecks, forecast. Every function takes a `Scope` (who is asking, which period and slice) and returns plain
data: dicts and lists of dicts, ready for JSON, CSV and charts.

Periods: lead figures count leads created in the period; deal figures count deals created in it.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.db import connection
from django.db.models import (
    Avg,
    Case,
    Count,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from leadflow.leads.lifecycle import FORWARD
from leadflow.leads.models import Lead, LeadSource, StageChange
from leadflow.leads.selectors import leads_visible_to
from leadflow.pipeline.models import Activity, Opportunity, OpportunityStageChange, Pipeline
from leadflow.pipeline.selectors import opportunities_visible_to
from leadflow.users.models import User

DAY = 86400


@dataclass(frozen=True)
class Scope:
    """Whose view and which slice: the user's visibility, a creation period, a source, an owner, a team."""

    user: User
    since: date | None = None
    until: date | None = None
    source: str | None = None
    owner_id: int | None = None
    team_id: int | None = None

    def leads(self) -> QuerySet[Lead]:
        leads = leads_visible_to(self.user)
        if self.since:
            leads = leads.filter(created_at__date__gte=self.since)
        if self.until:
            leads = leads.filter(created_at__date__lte=self.until)
        if self.source:
            leads = leads.filter(source=self.source)
        if self.owner_id:
            leads = leads.filter(owner_id=self.owner_id)
        if self.team_id:
            leads = leads.filter(team_id=self.team_id)
        return leads

    def deals(self) -> QuerySet[Opportunity]:
        deals = opportunities_visible_to(self.user)
        if self.since:
            deals = deals.filter(created_at__date__gte=self.since)
        if self.until:
            deals = deals.filter(created_at__date__lte=self.until)
        if self.source:
            deals = deals.filter(lead__source=self.source)
        if self.owner_id:
            deals = deals.filter(owner_id=self.owner_id)
        if self.team_id:
            deals = deals.filter(team_id=self.team_id)
        return deals


def _ratio(part: float | int, whole: float | int) -> float | None:
    return round(part / whole, 4) if whole else None


def _days(value: timedelta | None) -> float | None:
    return round(value.total_seconds() / DAY, 1) if value is not None else None


def _cycle() -> ExpressionWrapper:
    return ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField())


def _deal_figures(deals: QuerySet[Opportunity]) -> dict[str, Any]:
    won = Q(stage__is_won=True)
    figures = deals.aggregate(
        opportunities=Count("id"),
        won=Count("id", filter=won),
        lost=Count("id", filter=Q(stage__is_lost=True)),
        revenue_won=Coalesce(Sum("amount", filter=won), Value(Decimal(0)), output_field=DecimalField()),
        cycle=Avg(_cycle(), filter=won),
    )
    won_count, lost_count = figures["won"], figures["lost"]
    return {
        "opportunities": figures["opportunities"],
        "won": won_count,
        "lost": lost_count,
        "win_rate": _ratio(won_count, won_count + lost_count),
        "avg_sales_cycle_days": _days(figures["cycle"]),
        "revenue_won": float(figures["revenue_won"]),
        "avg_deal_size_won": round(float(figures["revenue_won"]) / won_count, 2) if won_count else None,
    }


def _lead_figures(leads: QuerySet[Lead]) -> dict[str, Any]:
    reached = StageChange.objects.filter(lead__in=leads.values("pk"))
    figures = leads.aggregate(leads=Count("id"))
    prospects = reached.filter(to_stage__in=FORWARD[1:]).values("lead").distinct().count()
    with_deal = leads.filter(opportunities__isnull=False).values("pk").distinct().count()
    customers = reached.filter(to_stage="customer").values("lead").distinct().count()
    return {
        "leads": figures["leads"],
        "prospects": prospects,
        "lead_to_opportunity_rate": _ratio(with_deal, figures["leads"]),
        "lead_to_customer_rate": _ratio(customers, figures["leads"]),
    }


def kpis(scope: Scope) -> dict[str, Any]:
    """Lead conversion, win rate, cycle length, revenue and deal size, overall and per lead source."""
    overall = {**_lead_figures(scope.leads()), **_deal_figures(scope.deals())}
    by_source = {}
    for source in LeadSource.values:
        leads = scope.leads().filter(source=source)
        deals = scope.deals().filter(lead__source=source)
        figures = {**_lead_figures(leads), **_deal_figures(deals)}
        if figures["leads"] or figures["opportunities"]:
            by_source[source] = figures
    return {**overall, "by_source": by_source}


DIMENSIONS = {
    "source": "source",
    "channel": "first_touch_channel",
    "campaign": "utm_campaign",
    "owner": "owner__username",
    "team": "team__name",
    "cohort": "cohort",
}


def funnel(scope: Scope, *, by: str | None = None) -> list[dict[str, Any]]:
    """Leads reaching each lifecycle stage and the stage-to-stage conversion, optionally per dimension
    (source, channel, campaign, owner, team, cohort = creation month)."""
    if by is not None and by not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {by!r}; choose one of {', '.join(DIMENSIONS)}.")
    changes = StageChange.objects.filter(lead__in=scope.leads().values("pk"), to_stage__in=FORWARD)
    key = None
    if by == "cohort":
        changes = changes.annotate(cohort=TruncMonth("lead__created_at"))
        key = "cohort"
    elif by is not None:
        key = f"lead__{DIMENSIONS[by]}"
    groups = [key] if key else []
    rank = Case(*[When(to_stage=stage, then=Value(i)) for i, stage in enumerate(FORWARD)], output_field=IntegerField())
    furthest = changes.values(*groups, "lead").annotate(rank=Max(rank)).order_by()
    # Count per group how many leads got at least as far as each stage (a skipped step counts as passed).
    table: dict[Any, list[int]] = defaultdict(lambda: [0] * len(FORWARD))
    for row in furthest.values_list(*groups, "rank") if groups else furthest.values_list("rank"):
        group, reached_rank = (row[0], row[1]) if groups else ("all", row[0])
        for index in range(reached_rank + 1):
            table[group][index] += 1
    result = []
    for group, counts in sorted(table.items(), key=lambda item: str(item[0])):
        reached = {str(stage): counts[i] for i, stage in enumerate(FORWARD)}
        entry: dict[str, Any] = {"group": group.isoformat()[:7] if hasattr(group, "isoformat") else group or "—"}
        entry.update(reached)
        for earlier, later in pairwise(FORWARD):
            entry[f"{earlier}_to_{later}"] = _ratio(reached[later], reached[earlier])
        result.append(entry)
    return result


def _probability() -> Coalesce:
    return Coalesce("probability_override", "stage__probability")


def pipeline_by_stage(scope: Scope, pipeline: Pipeline) -> list[dict[str, Any]]:
    """Count, value and probability-weighted value of the deals in each stage of a pipeline."""
    weighted = ExpressionWrapper(F("amount") * _probability() / 100.0, output_field=DecimalField())
    rows = {
        row["stage"]: row
        for row in scope.deals()
        .filter(pipeline=pipeline)
        .values("stage")
        .annotate(count=Count("id"), value=Sum("amount"), weighted=Sum(weighted))
        .order_by()
    }
    return [
        {
            "stage": stage.name,
            "probability": stage.probability,
            "is_closed": stage.is_closed,
            "count": rows.get(stage.pk, {}).get("count", 0),
            "value": float(rows.get(stage.pk, {}).get("value") or 0),
            "weighted_value": round(float(rows.get(stage.pk, {}).get("weighted") or 0), 2),
        }
        for stage in pipeline.stages.order_by("order")
    ]


def _days_between(later: str, earlier: str) -> str:
    """SQL for the days between two timestamp columns, in this database's dialect."""
    if connection.vendor == "sqlite":
        return f"(julianday({later}) - julianday({earlier}))"
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"


def _stage_durations(changes: QuerySet, owner_field: str) -> dict[Any, dict[str, Any]]:
    """Average and median days spent in each stage, over the spells that have ended: one pass over the history
    with window functions (a spell ends when the next row of the same lead or deal begins)."""
    model = changes.model
    table = connection.ops.quote_name(model._meta.db_table)
    owner = connection.ops.quote_name(model._meta.get_field(owner_field).column)
    stage = connection.ops.quote_name(model._meta.get_field("to_stage").column)
    scope_sql, scope_params = changes.values("pk").query.sql_with_params()
    spells = f"""
        SELECT stage, {_days_between("left_at", "at")} AS days FROM (
            SELECT {stage} AS stage, at, LEAD(at) OVER (PARTITION BY {owner} ORDER BY at, id) AS left_at
            FROM {table} WHERE id IN ({scope_sql})
        ) spells WHERE left_at IS NOT NULL
    """
    ranked = f"""
        SELECT stage, days, ROW_NUMBER() OVER (PARTITION BY stage ORDER BY days) AS place,
               COUNT(*) OVER (PARTITION BY stage) AS spells, AVG(days) OVER (PARTITION BY stage) AS average
        FROM ({spells}) timed
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT stage, average, days, spells FROM ({ranked}) ranked WHERE place = spells / 2 + 1", scope_params
        )
        return {
            stage: {"avg_days": round(average, 1), "median_days": round(median, 1), "spells": count}
            for stage, average, median, count in cursor.fetchall()
        }


def velocity(scope: Scope, pipeline: Pipeline) -> dict[str, Any]:
    """Time in each lifecycle and deal stage, the sales-velocity figure, and where deals wait or drop."""
    deals = scope.deals().filter(pipeline=pipeline)
    lifecycle = _stage_durations(StageChange.objects.filter(lead__in=scope.leads().values("pk")), "lead")
    moves = OpportunityStageChange.objects.filter(opportunity__in=deals.values("pk"))
    in_stage = _stage_durations(moves, "opportunity")
    figures = _deal_figures(deals)
    open_deals = deals.filter(closed_at__isnull=True).count()
    cycle = figures["avg_sales_cycle_days"]
    sales_velocity = (
        round(open_deals * figures["win_rate"] * figures["avg_deal_size_won"] / cycle, 2)
        if cycle and figures["win_rate"] is not None and figures["avg_deal_size_won"]
        else None
    )
    stages = list(pipeline.stages.order_by("order"))
    reached = dict(
        moves.values("to_stage").annotate(n=Count("opportunity", distinct=True)).values_list("to_stage", "n")
    )
    lost_from = dict(
        moves.filter(to_stage__is_lost=True)
        .values("from_stage")
        .annotate(n=Count("opportunity", distinct=True))
        .values_list("from_stage", "n")
    )
    now = timezone.now()
    waiting = {
        row["stage"]: row
        for row in deals.filter(closed_at__isnull=True)
        .annotate(entered=Subquery(moves.filter(opportunity=OuterRef("pk")).order_by("-at", "-pk").values("at")[:1]))
        .values("stage")
        .annotate(
            open=Count("id"), avg_age=Avg(ExpressionWrapper(Value(now) - F("entered"), output_field=DurationField()))
        )
        .order_by()
    }
    stage_rows = []
    for stage in stages:
        history = in_stage.get(stage.pk, {})
        now_waiting = waiting.get(stage.pk, {})
        avg_age = _days(now_waiting.get("avg_age"))
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
        "lifecycle": [
            {"stage": stage, **lifecycle.get(stage, {"avg_days": None, "median_days": None, "spells": 0})}
            for stage in FORWARD[:-1]
        ],
        "stages": stage_rows,
        "open_opportunities": open_deals,
        "sales_velocity_per_day": sales_velocity,
        "bottlenecks": {
            "longest_wait": slowest["stage"] if slowest and slowest["waiting_vs_history"] else None,
            "most_drop": leakiest["stage"] if leakiest and leakiest["drop_rate"] else None,
        },
    }


def stale_deals(scope: Scope, *, idle_days: int = 30, limit: int = 50) -> list[dict[str, Any]]:
    """Open deals with no activity for `idle_days`, or past their expected close date, most overdue first."""
    today = timezone.localdate()
    quiet_since = timezone.now() - timedelta(days=idle_days)
    last_touch = Subquery(
        Activity.objects.filter(Q(opportunity=OuterRef("pk")) | Q(lead=OuterRef("lead")), is_done=True)
        .order_by("-done_at")
        .values("done_at")[:1]
    )
    deals = (
        scope.deals()
        .filter(closed_at__isnull=True)
        .annotate(last_touch=last_touch)
        .filter(Q(last_touch__lt=quiet_since) | Q(last_touch__isnull=True) | Q(expected_close_date__lt=today))
        .select_related("stage", "owner")
        .order_by(F("expected_close_date").asc(nulls_last=True), "last_touch")[:limit]
    )
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


def learned_win_rates(scope: Scope, pipeline: Pipeline) -> dict[int, float]:
    """For each open stage, the share of closed deals that passed through it and were won."""
    closed = scope.deals().filter(pipeline=pipeline, closed_at__isnull=False)
    passed = OpportunityStageChange.objects.filter(opportunity__in=closed.values("pk"))
    rows = passed.values("to_stage").annotate(
        deals=Count("opportunity", distinct=True),
        won=Count("opportunity", distinct=True, filter=Q(opportunity__stage__is_won=True)),
    )
    return {row["to_stage"]: row["won"] / row["deals"] for row in rows if row["deals"]}


def forecast(scope: Scope, pipeline: Pipeline) -> list[dict[str, Any]]:
    """Expected revenue by close month from open deals: weighted by stage probability and by the win rates the
    closed deals teach; and the commit (≥ 70 %), best case (≥ 40 %) and pipeline categories."""
    learned = learned_win_rates(scope, pipeline)
    months: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    rows = (
        scope.deals()
        .filter(pipeline=pipeline, closed_at__isnull=True)
        .annotate(p=_probability())
        .values_list("expected_close_date", "amount", "p", "stage_id")
    )
    today = timezone.localdate()
    for close_date, amount, probability, stage in rows:
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


def losses(scope: Scope) -> dict[str, Any]:
    """Why deals are lost, and what the won/lost reviews say."""
    lost = scope.deals().filter(stage__is_lost=True)
    reasons = [
        {"reason": row["lost_reason__name"] or "(none)", "deals": row["n"], "value": float(row["value"] or 0)}
        for row in lost.values("lost_reason__name").annotate(n=Count("id"), value=Sum("amount")).order_by("-n")
    ]
    reviews = [
        {"id": pk, "name": name, "won": won, "note": note}
        for pk, name, won, note in scope.deals()
        .filter(closed_at__isnull=False)
        .exclude(review_note="")
        .order_by("-closed_at")
        .values_list("pk", "name", "stage__is_won", "review_note")[:50]
    ]
    return {"reasons": reasons, "reviews": reviews}
