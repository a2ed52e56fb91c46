"""The job system's share of every kind of background job (its status, progress and outcome), and the workers'
signs of life.

An app adds a kind of job with a concrete model built on `BackgroundJob` and registers how to run it (see
`leadflow.jobs.worker`); the table is the app's own.
"""

from django.db import models


class JobStatus(models.TextChoices):
    DRAFT = "draft", "Not started"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BackgroundJob(models.Model):
    """What every kind of job the worker runs shares: its status, progress and outcome."""

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveIntegerField(default=0, help_text="Units of work done (rows, for an import)")
    progress_total = models.PositiveIntegerField(null=True, blank=True, help_text="Units of work expected")
    message = models.TextField(blank=True, help_text="What the job did, or why it failed")
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life from the worker")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        """Progress in whole percent (0 while the total is unknown)."""
        if self.status == JobStatus.DONE:
            return 100
        if not self.progress_total:
            return 0
        return min(100, self.progress * 100 // self.progress_total)


class WorkerHeartbeat(models.Model):
    """One `leadflow worker` process: where it runs, when it was last heard from, and the job it is running
    (`app_label.model:pk`, blank between jobs), so a job whose worker died can be given to another one."""

    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="When it stopped cleanly")
    job = models.CharField(max_length=100, blank=True, help_text="The job it is running, as app.model:pk")

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"Worker {self.pid} on {self.hostname}"
