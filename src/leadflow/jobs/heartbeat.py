"""Each worker's sign of life: a `WorkerHeartbeat` row it keeps fresh, naming the job it is running.

The web app reads it to warn admins when no worker is running; a worker starting (or between jobs) reads it to
find jobs whose worker on the same machine is gone (killed, crashed) and give them back to the queue at once,
instead of waiting for the job to go stale.
"""

import os
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from .models import WorkerHeartbeat

BEAT_EVERY = timedelta(seconds=10)
SILENT_AFTER = timedelta(minutes=5)  # no worker heard from for this long: the web app warns admins
FORGET_AFTER = timedelta(days=7)  # rows of workers gone this long are deleted


class Heartbeat:
    """The heartbeat row of this worker process."""

    def __init__(self) -> None:
        now = timezone.now()
        WorkerHeartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
        self.row = WorkerHeartbeat.objects.create(
            hostname=socket.gethostname(), pid=os.getpid(), started_at=now, seen_at=now
        )
        self.beaten_at = now

    def beat(self, *, job: str | None = None) -> None:
        """Say this worker is alive (at most every BEAT_EVERY unless the job it runs changes)."""
        now = timezone.now()
        if job is None and now - self.beaten_at < BEAT_EVERY:
            return
        changes: dict[str, object] = {"seen_at": now}
        if job is not None:
            changes["job"] = job
        WorkerHeartbeat.objects.filter(pk=self.row.pk).update(**changes)
        self.beaten_at = now

    def stop(self) -> None:
        """Record that this worker stopped cleanly."""
        now = timezone.now()
        WorkerHeartbeat.objects.filter(pk=self.row.pk).update(seen_at=now, stopped_at=now)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def gone_workers(*, besides: WorkerHeartbeat | None = None) -> Iterator[WorkerHeartbeat]:
    """Workers on this machine that were running a job and whose process no longer exists."""
    rows = WorkerHeartbeat.objects.filter(hostname=socket.gethostname()).exclude(job="")
    if besides is not None:
        rows = rows.exclude(pk=besides.pk)
    return (row for row in rows if not _is_running(row.pid))


def worker_silent_since(*, now: datetime | None = None) -> tuple[bool, datetime | None]:
    """Whether no worker has been heard from for SILENT_AFTER, and when one last was (None: never)."""
    last = WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"]
    return last is None or last < (now or timezone.now()) - SILENT_AFTER, last
