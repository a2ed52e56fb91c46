"""What people did: visits, form fills, email opens and clicks, downloads, webinars, calls, meetings, demos."""

from django.db import models

from leadflow.accounts.models import Contact
from leadflow.leads.models import Lead


class EventType(models.TextChoices):
    PAGE_VISIT = "page_visit", "Page visit"
    PRICING_PAGE_VIEW = "pricing_page_view", "Pricing page view"
    DEMO_REQUEST = "demo_request", "Demo request"
    FORM_SUBMISSION = "form_submission", "Form submission"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    CONTENT_DOWNLOAD = "content_download", "Content download"
    WEBINAR_REGISTRATION = "webinar_registration", "Webinar registration"
    WEBINAR_ATTENDANCE = "webinar_attendance", "Webinar attendance"
    SOCIAL_INTERACTION = "social_interaction", "Social interaction"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    DEMO = "demo", "Demo"


class Event(models.Model):
    type = models.CharField(max_length=30, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    # Indexed by (lead, occurred_at, type) below; a second index on lead alone would only slow ingestion.
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    properties = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=50, blank=True, help_text="Where the event came from: api, import, tracking")
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # A lead's events in time order; with the type, also all a full rescore reads of them (no table rows).
            models.Index(fields=["lead", "occurred_at", "type"]),
            models.Index(fields=["type", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"
