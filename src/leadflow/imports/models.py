"""The one kind of background job this app runs: importing a spreadsheet or a product's export."""

from django.conf import settings
from django.db import models

from leadflow.jobs.models import BackgroundJob

from .report import details_of


class ImportJob(BackgroundJob):
    """An uploaded spreadsheet (with a column mapping) or a product's export (with an update mode) to import with
    a preset, run by the worker."""

    file = models.FileField(upload_to="imports/%Y/%m/")
    file_name = models.CharField(max_length=255, help_text="The name it was uploaded with")
    preset = models.CharField(max_length=20)
    mapping = models.JSONField(default=dict, blank=True, help_text="{column header: field}")
    counts = models.JSONField(default=dict, blank=True, help_text="{table: {read, new, updated, duplicate, invalid}}")
    error_file = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    error_count = models.PositiveIntegerField(default=0)
    update_mode = models.CharField(
        max_length=10, default="fill", help_text="Records already here: fill their blanks, or overwrite them"
    )
    details = models.JSONField(
        default=dict, blank=True, help_text="What needs the user's eye: unknown values, changed fields, owners, ..."
    )
    checkpoint = models.JSONField(
        default=dict, blank=True, help_text="What the chunks committed so far did, to resume from after a crash"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"Import {self.pk}: {self.file_name}"

    @property
    def detail_sections(self) -> list[tuple[str, list[str]]]:
        """What the finished import asks the user to look at, as (title, lines)."""
        return details_of(self.details)
