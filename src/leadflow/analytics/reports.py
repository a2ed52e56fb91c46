"""The named reports, shared by the API, the dashboard's CSV links and `leadflow report`: each turns a scope into
rows (for tables and CSV) or a document (for JSON)."""

from collections.abc import Callable
from typing import Any

from leadflow.imports.cells import to_cell
from leadflow.pipeline.models import Pipeline
from leadflow.pipeline.selectors import default_pipeline
from leadflow.qualification.selectors import handoff_rates

from . import selectors
from .selectors import Scope


def _flat_kpis(scope: Scope, pipeline: Pipeline) -> list[dict[str, Any]]:
    figures = selectors.kpis(scope)
    by_source = figures.pop("by_source")
    return [{"source": "all", **figures}] + [{"source": source, **row} for source, row in by_source.items()]


REPORTS: dict[str, Callable[[Scope, Pipeline], Any]] = {
    "kpis": lambda scope, pipeline: selectors.kpis(scope),
    "funnel": lambda scope, pipeline: selectors.funnel(scope),
    "funnel-by-source": lambda scope, pipeline: selectors.funnel(scope, by="source"),
    "funnel-by-cohort": lambda scope, pipeline: selectors.funnel(scope, by="cohort"),
    "funnel-by-owner": lambda scope, pipeline: selectors.funnel(scope, by="owner"),
    "pipeline": selectors.pipeline_by_stage,
    "velocity": selectors.velocity,
    "lifecycle-times": lambda scope, pipeline: selectors.lifecycle_times(scope),
    "stale": lambda scope, pipeline: selectors.stale_deals(scope),
    "forecast": selectors.forecast,
    "forecast-backtest": selectors.forecast_backtest,
    "losses": lambda scope, pipeline: selectors.losses(scope),
    "pipeline-review": selectors.pipeline_review,
    "handoffs-by-source": lambda scope, pipeline: handoff_rates(scope.leads(), by="source"),
    "handoffs-by-way": lambda scope, pipeline: handoff_rates(scope.leads(), by="qualified_by"),
    "handoffs-by-rule": lambda scope, pipeline: handoff_rates(scope.leads(), by="rule"),
}
# The same reports as tables (one row per line), for CSV.
TABLES: dict[str, Callable[[Scope, Pipeline], list[dict[str, Any]]]] = {
    "kpis": _flat_kpis,
    "funnel": REPORTS["funnel"],
    "funnel-by-source": REPORTS["funnel-by-source"],
    "funnel-by-cohort": REPORTS["funnel-by-cohort"],
    "funnel-by-owner": REPORTS["funnel-by-owner"],
    "pipeline": selectors.pipeline_by_stage,
    "velocity": lambda scope, pipeline: selectors.velocity(scope, pipeline)["stages"],
    "lifecycle-times": REPORTS["lifecycle-times"],
    "stale": REPORTS["stale"],
    "forecast": selectors.forecast,
    "forecast-backtest": lambda scope, pipeline: selectors.forecast_backtest(scope, pipeline)["as_of"],
    "losses": lambda scope, pipeline: selectors.losses(scope)["reasons"],
    "pipeline-review": lambda scope, pipeline: [
        {key: value for key, value in row.items() if key != "examples"}
        for row in selectors.pipeline_review(scope, pipeline)["categories"]
    ],
    "handoffs-by-source": REPORTS["handoffs-by-source"],
    "handoffs-by-way": REPORTS["handoffs-by-way"],
    "handoffs-by-rule": REPORTS["handoffs-by-rule"],
}


def run_report(name: str, scope: Scope, pipeline: Pipeline | None = None, *, table: bool = False) -> Any:
    """The report's document (or its table, for CSV)."""
    registry = TABLES if table else REPORTS
    if name not in registry:
        raise KeyError(name)
    return registry[name](scope, pipeline or default_pipeline())


def csv_text(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({key: to_cell(value) for key, value in row.items()} for row in rows)
    return out.getvalue()
