"""KPIs: lead conversion, win rate, cycle length, revenue and deal size, overall and per source."""

from collections.abc import Iterable
from typing import Any

from django.db.models import (
    Count,
    FloatField,
    QuerySet,
    Sum,
)
from django.db.models.expressions import RawSQL

from leadflow.history import days_between, qualified_column
from leadflow.leads.lifecycle import FORWARD
from leadflow.leads.models import Lead, LeadSource, LifecycleStage
from leadflow.pipeline.models import (
    Opportunity,
    Stage,
)

from .scope import Scope, _ratio, _stages


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
