"""The chores this app gives the worker: the month-start forecast snapshots."""

from leadflow.jobs.worker import register_chore

from .services import take_forecast_snapshots

register_chore(take_forecast_snapshots)
