"""Pipeline analytics, computed in the database over the history rows: KPIs, funnel, pipeline, velocity,
bottlenecks, forecast. Every function takes a `Scope` (who is asking, which period and slice) and returns plain
data: dicts and lists of dicts, ready for JSON, CSV and charts.

Periods: lead figures count leads created in the period; deal figures count deals created in it.
"""

from .forecast import forecast, forecast_backtest, learned_win_rates
from .funnel import DIMENSIONS, funnel
from .kpis import kpis
from .pipeline import pipeline_by_stage
from .reviews import REVIEW_CATEGORIES, losses, pipeline_review
from .scope import Scope
from .velocity import UpperMedian, lifecycle_times, stale_deals, velocity

__all__ = [
    "DIMENSIONS",
    "REVIEW_CATEGORIES",
    "Scope",
    "UpperMedian",
    "forecast",
    "forecast_backtest",
    "funnel",
    "kpis",
    "learned_win_rates",
    "lifecycle_times",
    "losses",
    "pipeline_by_stage",
    "pipeline_review",
    "stale_deals",
    "velocity",
]
