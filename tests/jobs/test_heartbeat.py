"""Workers' heartbeats: the admins' warning when none is running, the job of a worker that is gone given back, and a
job that lost a deadlock queued again."""

import subprocess
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from leadflow.jobs.heartbeat import Heartbeat
from leadflow.jobs.models import WorkerHeartbeat
from leadflow.jobs.worker import job_key, requeue_orphans, run, work
from leadflow.scoring.models import RescoreJob

from ..clients import signed_in
from ..factories import LeadFactory

pytestmark = pytest.mark.django_db
WARNING = "No background worker is running"


def page_for(user) -> str:
    return signed_in(user).get("/").content.decode()


def test_admins_are_warned_when_no_worker_has_ever_run(admin):
    assert f"{WARNING}:</strong>\n        none has ever run here" in page_for(admin)


def test_admins_are_warned_when_the_last_worker_went_quiet_minutes_ago(admin):
    Heartbeat()
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(minutes=7))
    assert "none has been heard from since 7" in page_for(admin)


def test_no_warning_while_a_worker_is_heard_from(admin):
    Heartbeat()
    assert WARNING not in page_for(admin)


def test_only_admins_see_the_warning(rep):
    assert WARNING not in page_for(rep)


def test_the_job_of_a_worker_whose_process_is_gone_is_given_back_and_run_again(admin):
    LeadFactory.create_batch(3)
    job = RescoreJob.objects.create(status="running", attempts=1, progress=1, progress_total=3,
                                    started_at=timezone.now(), heartbeat_at=timezone.now())  # fmt: skip
    gone = Heartbeat()
    WorkerHeartbeat.objects.filter(pk=gone.row.pk).update(pid=_dead_pid(), job=job_key(job))

    assert requeue_orphans() == 1
    job.refresh_from_db()
    assert (job.status, job.message) == ("queued", "The worker running attempt 1 stopped at 1 of 3.")

    work(once=True)
    job.refresh_from_db()
    assert job.status == "done"
    assert job.message == "Started over and scored 3 leads. The worker running attempt 1 stopped at 1 of 3."
    assert WorkerHeartbeat.objects.get(pk=gone.row.pk).job == ""
    assert job.message in signed_in(admin).get("/scoring/rescore/progress/").content.decode()  # the job's page


def test_a_job_whose_worker_still_runs_is_left_alone(admin):
    job = RescoreJob.objects.create(status="running", attempts=1, heartbeat_at=timezone.now())
    beating = Heartbeat()  # this very process
    beating.beat(job=job_key(job))
    assert requeue_orphans() == 0
    job.refresh_from_db()
    assert job.status == "running"


def _dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


class _PostgresError(Exception):
    sqlstate = "40P01"  # deadlock_detected


def test_a_job_that_loses_a_deadlock_goes_back_to_the_queue(admin):
    job = RescoreJob.objects.create(requested_by=admin, status="running", attempts=1)

    def loses_a_deadlock(job, progress):
        error = OperationalError("deadlock detected")
        error.__cause__ = _PostgresError()
        raise error

    run(job, loses_a_deadlock)
    job.refresh_from_db()
    assert job.status == "queued" and "A deadlock with another writer undid attempt 1" in job.message
