"""Leads and their lifecycle history."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadflow.accounts.models import Contact


class LifecycleStage(models.TextChoices):
    LEAD = "lead", "Lead"
    PROSPECT = "prospect", "Prospect"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    DISQUALIFIED = "disqualified", "Disqualified"
    RECYCLED = "recycled", "Recycled"


# Stages in which a lead is still being worked (an opportunity-stage lead only while its deal is open).
OPEN_STAGES = (
    LifecycleStage.LEAD,
    LifecycleStage.PROSPECT,
    LifecycleStage.OPPORTUNITY,
    LifecycleStage.RECYCLED,
)


class LeadSource(models.TextChoices):
    INBOUND_MARKETING = "inbound_marketing", "Inbound marketing"
    OUTBOUND_PROSPECTING = "outbound_prospecting", "Outbound prospecting"
    REFERRAL_PARTNER = "referral_partner", "Referral / partner"
    EVENT_WEBINAR = "event_webinar", "Event / webinar"
    PURCHASED_LIST = "purchased_list", "Purchased list"
    OTHER = "other", "Other"


class Authority(models.TextChoices):
    DECISION_MAKER = "decision_maker", "Decision maker"
    INFLUENCER = "influencer", "Influencer"
    USER = "user", "User"
    UNKNOWN = "unknown", "Unknown"


class Lead(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="leads")
    company_name = models.CharField(max_length=200, blank=True, help_text="Company as captured, before an account")
    source = models.CharField(max_length=30, choices=LeadSource.choices, default=LeadSource.OTHER)
    source_detail = models.CharField(max_length=200, blank=True)
    first_touch_channel = models.CharField(max_length=100, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_leads"
    )
    team = models.ForeignKey("users.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    lifecycle_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD)
    # BANT qualification answers
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    budget_confirmed = models.BooleanField(default=False)
    authority = models.CharField(max_length=20, choices=Authority.choices, default=Authority.UNKNOWN)
    need = models.TextField(blank=True, help_text="Pain points in the buyer's words")
    timing_target_date = models.DateField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    furthest_stage = models.CharField(
        max_length=20,
        choices=LifecycleStage.choices,
        blank=True,
        editable=False,
        help_text="The furthest funnel stage its history reached (kept by leadflow.history's writers)",
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_leads"
    )
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "lifecycle_stage"]),
            models.Index(fields=["team", "owner"]),
            models.Index(fields=["lifecycle_stage", "-created_at"]),
            models.Index(fields=["source", "-created_at"]),
            # The funnel and KPIs read these alone, without the table.
            models.Index(fields=["source", "furthest_stage"]),
            models.Index(fields=["owner", "furthest_stage"]),
            models.Index(fields=["created_at", "furthest_stage"], name="lead_created_furthest"),
            models.Index(fields=["-last_activity_at"]),
        ]

    def __str__(self) -> str:
        return f"Lead {self.pk}: {self.contact}"

    @property
    def is_open(self) -> bool:
        return self.lifecycle_stage in OPEN_STAGES


class StageChange(models.Model):
    """One lifecycle transition of a lead: from, to, when, by whom and why."""

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="stage_changes", db_index=False
    )  # indexed by (lead, at)
    from_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=LifecycleStage.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=500, blank=True)
    left_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="When the next step began")
    days_in_stage = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["lead", "at"]),
            models.Index(fields=["to_stage", "at"]),
            models.Index(fields=["to_stage", "days_in_stage"]),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage or '∅'} → {self.to_stage}"


class AssignmentHow(models.TextChoices):
    BY_HAND = "by_hand", "By hand"
    RULE = "rule", "Assignment rule"
    ACCOUNT_OWNER = "account_owner", "Account owner"
    SLA_BREACH = "sla_breach", "Reassigned after an SLA breach"


class Assignment(models.Model):
    """One change of a lead's owner: to whom (None: back to the queue), when, by whom (None: leadflow itself),
    how, and the rule that chose the owner when one did."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments"
    )
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    how = models.CharField(max_length=20, choices=AssignmentHow.choices)
    rule_name = models.CharField(max_length=200, blank=True, help_text="The assignment rule, when one chose")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["lead", "at"])]

    def __str__(self) -> str:
        return f"{self.lead_id} → {self.owner_id or 'queue'} ({self.how})"
