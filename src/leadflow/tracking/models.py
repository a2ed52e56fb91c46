"""Websites that carry the tracking snippet, their visitors (anonymous until identified) and what they did there."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadflow.leads.models import Lead


def new_site_key() -> str:
    return secrets.token_urlsafe(12)


class Site(models.Model):
    """A website whose pages carry the snippet; only its listed origins may send to its key."""

    name = models.CharField(max_length=200, unique=True)
    key = models.CharField(max_length=32, unique=True, default=new_site_key, editable=False)
    allowed_origins = models.TextField(
        help_text="One origin a line, such as https://www.example.com (scheme, host and port, no path)"
    )
    consent_required = models.BooleanField(
        default=True, help_text="Send nothing until the page calls leadflow.consent(true)"
    )
    pricing_paths = models.CharField(
        max_length=500, default="/pricing", help_text="Paths (comma-separated prefixes) that count as pricing pages"
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()]


class Visitor(models.Model):
    """A browser on a site, known by the id in its first-party cookie; `lead` once it said who it is."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visitors", db_index=False)
    uid = models.CharField(max_length=64, help_text="The id in the visitor's cookie")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    identified_at = models.DateTimeField(null=True, blank=True)
    identified_by = models.CharField(max_length=20, blank=True, help_text="form or email link")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "uid"], name="tracking_visitor_one_per_cookie")]
        indexes = [models.Index(fields=["site", "-last_seen"])]

    def __str__(self) -> str:
        return f"Visitor {self.uid[:8]} on {self.site}"


class HitKind(models.TextChoices):
    PAGE_VIEW = "page_view", "Page view"
    OUTBOUND = "outbound", "Outbound click"
    DOWNLOAD = "download", "Download"
    CUSTOM = "custom", "Custom event"


class Hit(models.Model):
    """One thing a visitor did, as the snippet reported it; `uid` is the snippet's id for it, so a beacon sent
    twice is stored once."""

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="hits", db_index=False)
    uid = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=HitKind.choices)
    name = models.CharField(max_length=100, blank=True, help_text="A custom event's name")
    url = models.CharField(max_length=2000)
    path = models.CharField(max_length=500)
    title = models.CharField(max_length=300, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="utm_source, else the referring host")
    utm = models.JSONField(default=dict, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["visitor", "uid"], name="tracking_hit_once")]
        indexes = [models.Index(fields=["visitor", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.path}"
