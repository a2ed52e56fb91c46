"""The duplicate scan as a background job, and the record each merge of two contacts leaves on the survivor.

The pairs themselves (`accounts.DuplicatePair`) and the match keys live with the contacts, where people are written.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadflow.accounts.models import Contact
from leadflow.jobs.models import BackgroundJob


class DuplicateScanJob(BackgroundJob):
    """A scan of every contact for likely duplicates, run by the worker (progress counts contacts)."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Duplicate scan {self.pk} ({self.status})"


class ContactMerge(models.Model):
    """One contact merged into another: who did it and when, the values kept (and from which of the two), and
    how many rows of each table moved to the survivor."""

    survivor = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges")
    merged_contact_id = models.PositiveBigIntegerField(help_text="The id the merged-away contact had")
    merged_name = models.CharField(max_length=300)
    merged_email = models.CharField(max_length=254, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    kept = models.JSONField(default=dict, help_text="{field: {value, from: survivor|merged}}")
    moved = models.JSONField(default=dict, help_text="{table: rows re-pointed}")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["survivor", "-at"])]

    def __str__(self) -> str:
        return f"{self.merged_name} merged into {self.survivor_id}"
