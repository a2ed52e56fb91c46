"""The chores this app gives the worker: the weekly pipeline snapshot."""

from leadflow.jobs.worker import register_chore

from .services import take_weekly_snapshots

register_chore(take_weekly_snapshots)
