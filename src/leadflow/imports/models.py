"""Background jobs (rows the worker claims and runs) and the one kind this app runs: importing a spreadsheet."""

from django.conf import settings
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


class ImportJob(BackgroundJob):
    """An uploaded spreadsheet to import with a preset and a column mapping, run by the worker."""

    file = models.FileField(upload_to="imports/%Y/%m/")
    file_name = models.CharField(max_length=255, help_text="The name it was uploaded with")
    preset = models.CharField(max_length=20)
    mapping = models.JSONField(default=dict, blank=True, help_text="{column header: field}")
    counts = models.JSONField(default=dict, blank=True, help_text="{table: {read, new, updated, duplicate, invalid}}")
    error_file = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    error_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"Import {self.pk}: {self.file_name}"
