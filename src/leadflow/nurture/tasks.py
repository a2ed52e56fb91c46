"""What this app gives the worker: each round, enrol from segments, run due steps, send due emails and decide A/B
tests."""

from leadflow.jobs.worker import register_chore

from .services import run_nurture

register_chore(run_nurture)
