"""The background worker: job rows in the database, claimed one at a time, run, and marked done or failed.

An app adds a kind of job with a model built on `BackgroundJob` and a function that runs one job and returns
what it did in a sentence, registered from the app's `tasks.py` with `register(Model, run)`; `leadflow worker`
imports every app's tasks module. A job is claimed with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, so several
workers share the queue; SQLite takes one writer at a time, so its claims queue up instead. A job whose worker
stopped giving signs of life is claimed again, up to MAX_ATTEMPTS times: jobs must be safe to re-run.

An app also adds chores with `register_chore(run)`: functions the worker calls every CHORE_INTERVAL (the weekly
pipeline snapshot, say). A chore decides from the database whether anything is due, so it must be cheap when
nothing is and safe when two workers call it at once.
"""

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from leadflow.errors import DomainError

from .models import BackgroundJob, JobStatus

logger = logging.getLogger(__name__)

# Runs one job; reports progress (units done) through the callable; returns what it did in a sentence.
Runner = Callable[[Any, Callable[[int], None]], str]

CHORE_INTERVAL = 60.0  # seconds between rounds of chores
STALE_AFTER = timedelta(minutes=10)  # a running job not heard from for this long is taken to be orphaned
MAX_ATTEMPTS = 3
_RUNNERS: dict[type[BackgroundJob], Runner] = {}
_CHORES: list[Callable[[], object]] = []


def register(model: type[BackgroundJob], run: Runner) -> None:
    """Make the worker run jobs of this model with `run`."""
    _RUNNERS[model] = run


def register_chore(run: Callable[[], object]) -> None:
    """Make the worker call `run` on a schedule (see the module's docstring)."""
    if run not in _CHORES:
        _CHORES.append(run)


def do_chores() -> None:
    """Call every chore once; one that fails is logged and the others still run."""
    for chore in list(_CHORES):
        try:
            chore()
        except Exception:
            logger.exception("chore %s failed", chore.__name__)


def discover() -> dict[type[BackgroundJob], Runner]:
    """Every registered kind of job, after importing each app's tasks module."""
    autodiscover_modules("tasks")
    return dict(_RUNNERS)


def claim(model: type[BackgroundJob]) -> BackgroundJob | None:
    """The oldest job of this kind that is waiting (or was orphaned), now marked as running; None when there is
    none."""
    now = timezone.now()
    waiting = model._default_manager.filter(
        Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    ).order_by("created_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        waiting = waiting.select_for_update(skip_locked=True)
    while True:
        with transaction.atomic():
            job = waiting.first()
            if job is None:
                return None
            if job.attempts >= MAX_ATTEMPTS:
                _finish(job, JobStatus.FAILED, f"Gave up after {job.attempts} attempts: the worker stopped each time.")
                continue
            model._default_manager.filter(pk=job.pk).update(
                status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
            )
        job.refresh_from_db()
        return job


def run(job: BackgroundJob, runner: Runner) -> None:
    """Run a claimed job, recording its progress as it goes and its outcome at the end."""
    manager = type(job)._default_manager

    def progress(done: int) -> None:
        manager.filter(pk=job.pk).update(progress=done, heartbeat_at=timezone.now())

    try:
        message = runner(job, progress)
    except DomainError as exc:
        _finish(job, JobStatus.FAILED, exc.detail)
    except Exception as exc:
        logger.exception("%s failed", job)
        _finish(job, JobStatus.FAILED, f"Failed unexpectedly ({type(exc).__name__}: {exc}); see the worker's log.")
    else:
        _finish(job, JobStatus.DONE, message)


def _finish(job: BackgroundJob, status: str, message: str) -> None:
    type(job)._default_manager.filter(pk=job.pk).update(status=status, message=message, finished_at=timezone.now())


def work(*, once: bool = False, poll_seconds: float = 2.0) -> int:
    """Run waiting jobs of every kind, oldest first: until none is left (`once`), or for ever, looking for new ones
    every `poll_seconds`. Returns how many jobs ran."""
    runners = discover()
    ran = 0
    chores_due = 0.0
    while True:
        if time.monotonic() >= chores_due:
            do_chores()
            chores_due = time.monotonic() + CHORE_INTERVAL
        claimed = False
        for model, runner in runners.items():
            job = claim(model)
            if job is not None:
                run(job, runner)
                ran += 1
                claimed = True
        if not claimed:
            if once:
                return ran
            time.sleep(poll_seconds)
