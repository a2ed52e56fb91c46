"""Pipeline analytics, computed in the database over the history rows: KPIs, funnel, pipeline, velocity,
bottlenecks, forecast. Every function takes a `Scope` (who is asking, which period and slice) and returns plain
data: dicts and lists of dicts, ready for JSON, CSV and charts.

Periods: lead figures count leads created in the period; deal figures count deals created in it.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    BooleanField,
    Case,
    Count,
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Field,
    FilteredRelation,
    FloatField,
    IntegerField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest, RowNumber
from django.utils import timezone

from leadflow.history import days_between, epoch_days, qualified_column
from leadflow.leads.lifecycle import FORWARD
from leadflow.leads.models import Lead, LeadSource, LifecycleStage, StageChange
from leadflow.leads.selectors import leads_visible_to
from leadflow.pipeline.models import (
    Activity,
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
    opportunities_visible_to,
    spell_covers,
)
from leadflow.users.models import Team, User

from .models import PipelineSnapshot, SnapshotDeal


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
            deals = deals.filter(lead_source=self.source)
        if self.owner_id:
            deals = deals.filter(owner_id=self.owner_id)
        if self.team_id:
            deals = deals.filter(team_id=self.team_id)
        return deals


def _ratio(part: float | int, whole: float | int) -> float | None:
    return round(part / whole, 4) if whole else None


def _scoped(rows: QuerySet, owner_field: str, owners: QuerySet) -> QuerySet:
    """The rows that belong to the scoped leads or deals; when the scope is everything, no match against it, so
    the database reads the indexes alone."""
    return rows.filter(**{f"{owner_field}__in": owners.values("pk")}) if owners.query.has_filters() else rows


def _history(model: type[Model], owner_field: str, owners: QuerySet, **within: Any) -> QuerySet:
    """The history rows (narrowed by `within`) of the scoped leads or deals."""
    return _scoped(model._default_manager.filter(**within), owner_field, owners)


def _stages(**kind: bool) -> QuerySet[Stage]:
    return Stage.objects.filter(**kind).only("pk")


def _deal_rows(deals: QuerySet[Opportunity], *groups: str) -> list[dict[str, Any]]:
    """The deals counted per group and current stage (`n`), then the won ones' revenue and summed cycle days per
    group (rows of their own, `n` 0): the KPIs, velocity and reach all read from them. The count reads an index
    alone; only the won deals' rows are visited for the sums."""
    cycle = RawSQL(
        days_between(qualified_column(Opportunity, "closed_at"), qualified_column(Opportunity, "created_at")), ()
    )
    counts = deals.values(*groups, "stage").annotate(n=Count("*")).order_by()
    won = deals.filter(stage__in=list(_stages(is_won=True).values_list("pk", flat=True)))
    sums = won.values(*groups, "stage").annotate(revenue=Sum("amount"), cycle=Sum(cycle, output_field=FloatField()))
    return [*counts, *({**row, "n": 0} for row in sums.order_by())]


def _deal_sums(rows: list[dict[str, Any]], group: str | None = None) -> dict[Any, dict[str, Any]]:
    """Counts, won revenue and cycle days per group (one entry, None, when no group) from `_deal_rows`."""
    won_stages = set(Stage.objects.filter(is_won=True).values_list("pk", flat=True))
    lost_stages = set(Stage.objects.filter(is_lost=True).values_list("pk", flat=True))
    sums: dict[Any, dict[str, Any]] = {}
    for row in rows:
        key = row[group] if group else None
        into = sums.setdefault(key, {"opportunities": 0, "won": 0, "lost": 0, "revenue_won": 0.0, "cycle_days": 0.0})
        into["opportunities"] += row["n"]
        into["won"] += row["n"] if row["stage"] in won_stages else 0
        into["lost"] += row["n"] if row["stage"] in lost_stages else 0
        into["revenue_won"] += float(row.get("revenue") or 0)
        into["cycle_days"] += row.get("cycle") or 0.0
    return sums


def _deal_figures(sums: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Win rate, cycle, revenue and deal size from one or more entries of `_deal_sums`."""
    sums = list(sums)
    count = sum(row["opportunities"] for row in sums)
    won, lost = sum(row["won"] for row in sums), sum(row["lost"] for row in sums)
    revenue = float(sum(row["revenue_won"] for row in sums))
    cycle_days = sum(row["cycle_days"] or 0 for row in sums)
    return {
        "opportunities": count,
        "won": won,
        "lost": lost,
        "win_rate": _ratio(won, won + lost),
        "avg_sales_cycle_days": round(cycle_days / won, 1) if won else None,
        "revenue_won": revenue,
        "avg_deal_size_won": round(revenue / won, 2) if won else None,
    }


def _lead_sums(leads: QuerySet[Lead], *groups: str) -> list[dict[str, Any]]:
    """Per group: the leads, the prospects, the customers and the leads that reached an opportunity (like the
    funnel, a lead that skipped a step passed it: a customer passed opportunity). Counted per furthest stage off
    the (group, furthest stage) index, and added up here."""
    sums: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in leads.values(*groups, "furthest_stage").annotate(n=Count("*")).order_by():
        stage, count = row.pop("furthest_stage"), row.pop("n")
        into = sums.setdefault(
            tuple(row.values()), {**row, "leads": 0, "prospects": 0, "customers": 0, "opportunities_reached": 0}
        )
        into["leads"] += count
        into["prospects"] += count if stage in FORWARD[1:] else 0
        into["customers"] += count if stage == LifecycleStage.CUSTOMER else 0
        into["opportunities_reached"] += count if stage in FORWARD[2:] else 0
    return list(sums.values())


def _lead_figures(sums: list[dict[str, Any]]) -> dict[str, Any]:
    """Lead counts and conversion rates from one or more rows of `_lead_sums`."""
    leads = sum(row["leads"] for row in sums)
    return {
        "leads": leads,
        "prospects": sum(row["prospects"] for row in sums),
        "lead_to_opportunity_rate": _ratio(sum(row["opportunities_reached"] for row in sums), leads),
        "lead_to_customer_rate": _ratio(sum(row["customers"] for row in sums), leads),
    }


def kpis(scope: Scope) -> dict[str, Any]:
    """Lead conversion, win rate, cycle length, revenue and deal size, overall and per lead source."""
    lead_rows = _lead_sums(scope.leads(), "source")
    deal_sums = _deal_sums(_deal_rows(scope.deals(), "lead_source"), "lead_source")
    by_source = {}
    for source in LeadSource.values:
        leads = [row for row in lead_rows if row["source"] == source]
        deals = [deal_sums[source]] if source in deal_sums else []
        if leads or deals:
            by_source[source] = {**_lead_figures(leads), **_deal_figures(deals)}
    return {**_lead_figures(lead_rows), **_deal_figures(deal_sums.values()), "by_source": by_source}


DIMENSIONS = {
    "source": "source",
    "channel": "first_touch_channel",
    "campaign": "utm_campaign",
    "owner": "owner",
    "team": "team",
    "cohort": "cohort",
}


def _bisect(lookup: str, boundaries: list[Any], values: list[Any], output_field: Field) -> Case | Value:
    """values[i] for the rows that meet `lookup` (say "created_at__lt") at boundaries[i] but not at boundaries[i - 1];
    the last value for those that meet it at none. CASEs nested into a binary search: the database makes a few
    comparisons per row instead of one per boundary (or a date function call)."""

    def search(first: int, stop: int) -> Case | Value:
        if stop - first == 1:
            return Value(values[first], output_field=output_field)
        middle = (first + stop) // 2
        return Case(When(**{lookup: boundaries[middle - 1]}, then=search(first, middle)), default=search(middle, stop))

    return search(0, len(values))


def _creation_month(leads: QuerySet[Lead]) -> Case | Value:
    """The month (first day, local time) each lead was created in, searched for over the months the leads span."""
    by_creation = leads.order_by("created_at").values_list("created_at", flat=True)  # two index probes
    first, last_at = by_creation.first(), by_creation.last()
    if first is None or last_at is None:
        return Value(None, output_field=DateField())
    month = timezone.localtime(first).date().replace(day=1)
    last = timezone.localtime(last_at).date()
    months = []
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    starts = [timezone.make_aware(datetime.combine(month, datetime.min.time())) for month in months[1:]]
    return _bisect("created_at__lt", starts, months, DateField())


_NAME = {"owner": "username", "team": "name"}


def funnel(scope: Scope, *, by: str | None = None) -> list[dict[str, Any]]:
    """Leads reaching each lifecycle stage and the stage-to-stage conversion, optionally per dimension
    (source, channel, campaign, owner, team, cohort = creation month)."""
    if by is not None and by not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {by!r}; choose one of {', '.join(DIMENSIONS)}.")
    leads = scope.leads().filter(furthest_stage__in=FORWARD)
    if by == "cohort":
        leads = leads.annotate(cohort=_creation_month(leads))
    # Without a dimension the leads are still grouped by source: the (source, furthest stage) index serves it.
    group = DIMENSIONS[by] if by else "source"
    rows = leads.values(group, "furthest_stage").annotate(n=Count("*")).order_by()
    # Count per group how many leads got at least as far as each stage (a skipped step counts as passed).
    table: dict[Any, list[int]] = defaultdict(lambda: [0] * len(FORWARD))
    for row in rows:
        counts = table[row[group] if by else "all"]
        for index in range(FORWARD.index(row["furthest_stage"]) + 1):
            counts[index] += row["n"]
    if by in ("owner", "team"):  # grouped by id (the index has it), named here
        model = User if by == "owner" else Team
        names = dict(model._default_manager.filter(pk__in=[pk for pk in table if pk]).values_list("pk", _NAME[by]))
        table = defaultdict(lambda: [0] * len(FORWARD), {names.get(pk, ""): counts for pk, counts in table.items()})
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


REVIEW_CATEGORIES = ("new", "advanced", "slipped", "won", "lost")


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def pipeline_review(scope: Scope, pipeline: Pipeline, *, limit: int = 25) -> dict[str, Any]:
    """The weekly review: what changed between two snapshots of the pipeline (the latest and the one before it;
    or the first on/after `scope.since` and the last on/before `scope.until`). New: in the later snapshot only.
    Advanced: open before, further along now. Slipped: open in both, expected close moved out. Won, lost: open
    before, closed now. Counts and values per category, and the biggest deals of each."""
    snapshots = PipelineSnapshot.objects.filter(pipeline=pipeline)
    later = snapshots.filter(week_of__lte=scope.until).first() if scope.until else snapshots.first()
    earlier_pool = snapshots.filter(week_of__lt=later.week_of) if later else snapshots.none()
    if scope.since:
        earlier = earlier_pool.filter(week_of__gte=scope.since).order_by("week_of").first()
    else:
        earlier = earlier_pool.first()
    document: dict[str, Any] = {
        "earlier": earlier.week_of.isoformat() if earlier else None,
        "later": later.week_of.isoformat() if later else None,
        "categories": [],
    }
    if earlier is None or later is None:
        document["message"] = "A review needs two weekly snapshots of this pipeline; the worker takes one each week."
        return document
    # The slice (owner, team, source) applies; the creation period does not: it chose the snapshots.
    visible = replace(scope, since=None, until=None).deals()
    stages = list(pipeline.stages.all())
    open_ids = [stage.pk for stage in stages if not stage.is_closed]
    was_open = Q(before__stage__in=open_ids)
    still_open = was_open & Q(stage__in=open_ids)
    rows = (
        _history(SnapshotDeal, "opportunity", visible, snapshot=later)
        .annotate(before=FilteredRelation("same_deal", condition=Q(same_deal__snapshot=earlier)))
        .annotate(
            change=Case(
                When(before__id__isnull=True, then=Value("new")),
                When(was_open & Q(stage__in=[s.pk for s in stages if s.is_won]), then=Value("won")),
                When(was_open & Q(stage__in=[s.pk for s in stages if s.is_lost]), then=Value("lost")),
                When(still_open & Q(stage__order__gt=F("before__stage__order")), then=Value("advanced")),
                default=Value(""),
            ),
            slipped=Case(
                When(still_open & Q(expected_close_date__gt=F("before__expected_close_date")), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            close_before=F("before__expected_close_date"),
        )
        .exclude(change="", slipped=False)  # windows below run over the changed deals only
    )

    def ranked(partition: str) -> dict[str, Window]:
        def over(function: Any) -> Window:
            return Window(function, partition_by=[F(partition)], order_by=[F("amount").desc(), F("opportunity")])

        return {
            f"{partition}_place": over(RowNumber()),
            f"{partition}_deals": Window(Count("id"), partition_by=[F(partition)]),
            f"{partition}_value": Window(Sum("amount"), partition_by=[F(partition)]),
        }

    top = (
        rows.annotate(**ranked("change"), **ranked("slipped"))
        .filter(Q(change_place__lte=limit) & ~Q(change="") | Q(slipped_place__lte=limit, slipped=True))
        .order_by("-amount", "opportunity")
        .values(
            "opportunity", "stage", "amount", "expected_close_date", "close_before", "change", "slipped",
            *ranked("change"), *ranked("slipped"),
        )
    )  # fmt: skip
    top = list(top)  # the names are looked up for these few rows only, not joined to every deal
    names = dict(Opportunity.objects.filter(pk__in=[row["opportunity"] for row in top]).values_list("pk", "name"))
    stage_names = {stage.pk: stage.name for stage in stages}
    found: dict[str, dict[str, Any]] = {
        name: {"category": name, "deals": 0, "value": 0.0, "examples": []} for name in REVIEW_CATEGORIES
    }
    for row in top:
        example = {
            "id": row["opportunity"],
            "name": names.get(row["opportunity"], ""),
            "stage": stage_names.get(row["stage"], ""),
            "amount": float(row["amount"]),
            "expected_close_date": _iso(row["expected_close_date"]),
            "expected_close_before": _iso(row["close_before"]),
        }
        for category, part in ((row["change"], "change"), ("slipped" if row["slipped"] else "", "slipped")):
            if category and row[f"{part}_place"] <= limit:
                found[category].update(deals=row[f"{part}_deals"], value=float(row[f"{part}_value"]))
                found[category]["examples"].append(example)
    document["categories"] = [found[name] for name in REVIEW_CATEGORIES]
    return document
