"""The background worker: job rows in the database, claimed one at a time, run, and marked done or failed.

An app adds a kind of job with a model built on `BackgroundJob` and a function that runs one job and returns
what it did in a sentence, registered from the app's `tasks.py` with `register(Model, run)`; `leadflow worker`
imports every app's tasks module. A job is claimed with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, so several
workers share the queue; SQLite takes one writer at a time, so its claims queue up instead. A job whose worker
stopped giving signs of life is claimed again, up to MAX_ATTEMPTS times: jobs must be safe to re-run. A worker
on the same machine that is gone (killed, crashed: its heartbeat row names the job, its process is no more) gives
its job back at once; a job that lost its database connection is given back by its own worker, which reconnects.
Each time, the job's message says what happened, and the runner's sentence whether it resumed or started over.

An app also adds chores with `register_chore(run)`: functions the worker calls every CHORE_INTERVAL (the weekly
pipeline snapshot, say). A chore decides from the database whether anything is due, so it must be cheap when
nothing is and safe when two workers call it at once.
"""

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from leadflow.errors import DomainError
from leadflow.outages import database_unavailable, deadlocked, drop_lost_connection

from .heartbeat import Heartbeat, gone_workers
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
    """Call every chore once; one that fails is logged and the others still run (but for the database being
    unavailable, which stops the round: the worker reconnects and they run in the next one)."""
    for chore in list(_CHORES):
        try:
            chore()
        except Exception as exc:
            if database_unavailable(exc):
                raise
            logger.exception("chore %s failed", chore.__name__)


def discover() -> dict[type[BackgroundJob], Runner]:
    """Every registered kind of job, after importing each app's tasks module."""
    autodiscover_modules("tasks")
    return dict(_RUNNERS)


def job_key(job: BackgroundJob) -> str:
    """How a heartbeat row names a job: `app_label.model:pk`."""
    return f"{job._meta.label_lower}:{job.pk}"


def _where(job: BackgroundJob, done: int) -> str:
    return f"{done:,} of {job.progress_total:,}" if job.progress_total else f"{done:,} done"


def _try_again(job: BackgroundJob, why: str) -> None:
    """Put a job back in the queue, adding to its message why."""
    note = f"{job.message} {why}".strip()
    type(job)._default_manager.filter(pk=job.pk, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED, message=note)


def requeue_orphans(heartbeat: Heartbeat | None = None) -> int:
    """Give back to the queue the jobs whose worker on this machine is gone; returns how many."""
    given_back = 0
    for gone in gone_workers(besides=heartbeat.row if heartbeat else None):
        label, _, pk = gone.job.partition(":")
        model = apps.get_model(label)
        job = model._default_manager.filter(pk=pk, status=JobStatus.RUNNING).first()
        if job is not None:
            _try_again(job, f"The worker running attempt {job.attempts} stopped at {_where(job, job.progress)}.")
            given_back += 1
        gone.job = ""
        gone.stopped_at = gone.stopped_at or gone.seen_at
        gone.save(update_fields=["job", "stopped_at"])
    return given_back


def claim(model: type[BackgroundJob], heartbeat: Heartbeat | None = None) -> BackgroundJob | None:
    """The oldest job of this kind that is waiting (or was orphaned), now marked as running (and named in the
    worker's heartbeat); None when there is none."""
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
            if heartbeat is not None:
                heartbeat.beat(job=job_key(job))
        job.refresh_from_db()
        return job


def run(job: BackgroundJob, runner: Runner, heartbeat: Heartbeat | None = None) -> None:
    """Run a claimed job, recording its progress as it goes and its outcome at the end. A job cut off by the
    database (connection dropped, SQLite busy too long, a deadlock lost) or by the worker being stopped goes back
    to the queue."""
    manager = type(job)._default_manager
    done = job.progress
    earlier = job.message  # why earlier attempts did not finish

    def progress(count: int) -> None:
        nonlocal done
        done = count
        manager.filter(pk=job.pk).update(progress=count, heartbeat_at=timezone.now())
        if heartbeat is not None:
            heartbeat.beat()

    try:
        message = runner(job, progress)
    except DomainError as exc:
        _finish(job, JobStatus.FAILED, f"{exc.detail} {earlier}".strip())
    except KeyboardInterrupt:
        # If that fails, the job is given back when a worker starts again: this one's heartbeat still names it.
        with suppress(DatabaseError):
            _try_again(job, f"The worker was stopped during attempt {job.attempts}, at {_where(job, done)}.")
        raise
    except Exception as exc:
        if deadlocked(exc):  # PostgreSQL undid one batch of it so a concurrent request could go on
            logger.warning("%s lost a deadlock (%s); it goes back to the queue", job, _first_line(exc))
            _try_again(job, f"A deadlock with another writer undid attempt {job.attempts} at {_where(job, done)}.")
            return
        if not database_unavailable(exc):
            logger.exception("%s failed", job)
            _finish(job, JobStatus.FAILED, f"Failed unexpectedly ({type(exc).__name__}: {exc}); see the worker's log.")
            return
        logger.warning("%s: the database is unavailable (%s); reconnecting to try it again", job, _first_line(exc))
        drop_lost_connection()
        _try_again(job, f"The database connection dropped during attempt {job.attempts}, at {_where(job, done)}.")
    else:
        _finish(job, JobStatus.DONE, f"{message} {earlier}".strip())
    finally:
        if heartbeat is not None:
            heartbeat.beat(job="")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _finish(job: BackgroundJob, status: str, message: str) -> None:
    type(job)._default_manager.filter(pk=job.pk).update(status=status, message=message, finished_at=timezone.now())


def work(*, once: bool = False, poll_seconds: float = 2.0) -> int:
    """Run waiting jobs of every kind, oldest first: until none is left (`once`), or for ever, looking for new ones
    every `poll_seconds`. Returns how many jobs ran. When the database drops the connection, the worker logs a line,
    reconnects and goes on."""
    runners = discover()
    heartbeat = Heartbeat()
    ran = 0
    chores_due = 0.0
    job: BackgroundJob | None = None
    try:
        while True:
            try:
                if job is not None:  # cut off outside its runner (say, while recording its outcome)
                    _try_again(job, f"The database connection dropped as attempt {job.attempts} ended.")
                    job = None
                heartbeat.beat()
                if time.monotonic() >= chores_due:
                    requeue_orphans(heartbeat)
                    do_chores()
                    chores_due = time.monotonic() + CHORE_INTERVAL
                claimed = False
                for model, runner in runners.items():
                    job = claim(model, heartbeat)
                    if job is not None:
                        run(job, runner, heartbeat)
                        job = None
                        ran += 1
                        claimed = True
            except DatabaseError as exc:
                if not database_unavailable(exc):
                    raise
                logger.warning("The database is unavailable (%s); reconnecting", _first_line(exc))
                drop_lost_connection()
                time.sleep(poll_seconds)
                continue
            if not claimed:
                if once:
                    return ran
                time.sleep(poll_seconds)
    finally:
        with suppress(DatabaseError):  # else the row goes stale, which says the same
            heartbeat.stop()
