"""Qualification and handoff: the criteria a lead must meet, the events that show intent, the sales queue with its
accept/reject decisions, the rules that choose an owner, and response-time SLAs with their breaches."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leadflow.engagement.models import EventType
from leadflow.leads.models import Lead
from leadflow.pipeline.models import Pipeline
from leadflow.users.models import Team


class Criterion(models.TextChoices):
    BUDGET = "budget", "Budget"
    AUTHORITY = "authority", "Authority"
    NEED = "need", "Need"
    TIMING = "timing", "Timing"
    ICP_FIT = "icp_fit", "ICP fit"


class QualificationCriterion(models.Model):
    """One item of a pipeline's qualification checklist, and whether accepting or converting a lead needs it.
    `threshold`: budget — the least amount (none: a confirmed budget is enough); timing — the most days ahead the
    target date may be; ICP fit — the least match in percent."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="qualification_criteria")
    kind = models.CharField(max_length=20, choices=Criterion.choices)
    threshold = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True, help_text="On the checklist")
    required_to_accept = models.BooleanField(default=False)
    required_to_convert = models.BooleanField(default=False)

    class Meta:
        ordering = ["pipeline", "id"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "kind"], name="criterion_once_per_pipeline")]

    def __str__(self) -> str:
        return f"{self.pipeline}: {self.get_kind_display()}"


class IntentRule(models.Model):
    """An event that shows a person wants to buy (a demo request, a pricing or contact-sales form): it makes the
    lead a prospect at once."""

    name = models.CharField(max_length=200)
    event_type = models.CharField(max_length=30, choices=EventType.choices)
    property_name = models.CharField(max_length=100, blank=True, help_text="Only events whose …")
    property_contains = models.CharField(max_length=200, blank=True, help_text="… property contains this text")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Distribution(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round robin"
    WEIGHTED = "weighted", "Weighted"


class AssignmentRule(models.Model):
    """Leads that match every condition given (an empty list or no minimum matches all) go to `user`, or are shared
    among `team`'s active sales reps by the distribution; no rep takes one while holding `max_open_leads`."""

    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0, help_text="Rules are tried in this order")
    is_active = models.BooleanField(default=True)
    regions = models.JSONField(default=list, blank=True)
    industries = models.JSONField(default=list, blank=True)
    employee_bands = models.JSONField(default=list, blank=True)
    sources = models.JSONField(default=list, blank=True)
    min_score = models.IntegerField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    distribution = models.CharField(max_length=20, choices=Distribution.choices, default=Distribution.ROUND_ROBIN)
    max_open_leads = models.PositiveIntegerField(null=True, blank=True, help_text="Per rep")
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Where the round robin stands",
    )  # fmt: skip

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, team__isnull=True) | Q(user__isnull=True, team__isnull=False),
                name="assignment_rule_user_or_team",
            )
        ]

    def __str__(self) -> str:
        return self.name


class AssignmentWeight(models.Model):
    """A rep's share under a weighted rule (reps without a row weigh 1) and how many leads it gave them."""

    rule = models.ForeignKey(AssignmentRule, on_delete=models.CASCADE, related_name="weights")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    weight = models.PositiveIntegerField(default=1)
    assigned = models.PositiveIntegerField(default=0, help_text="Leads the rule has given the rep")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "user"], name="assignment_weight_once"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="assignment_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.user} × {self.weight}"


class QualificationSettings(models.Model):
    """The one row of SLA settings: what makes a lead hot, how long sales may take, and the business hours the
    clock runs in."""

    hot_score = models.IntegerField(default=70, help_text="A lead arriving with at least this score is hot")
    hot_first_touch_hours = models.FloatField(default=1.0)
    first_touch_hours = models.FloatField(default=8.0, help_text="8 business hours: one business day")
    decision_hours = models.FloatField(default=8.0, help_text="To accept or reject")
    day_starts = models.PositiveSmallIntegerField(default=9, help_text="Hour the business day starts")
    day_ends = models.PositiveSmallIntegerField(default=17, help_text="Hour the business day ends")
    business_days = models.JSONField(default=list, help_text="Weekdays, Monday = 0")
    time_zone = models.CharField(max_length=64, default="UTC")
    reassign_on_breach = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "qualification settings"
        constraints = [
            models.CheckConstraint(condition=Q(day_starts__lt=models.F("day_ends")), name="business_day_has_hours"),
            models.CheckConstraint(condition=Q(day_ends__lte=24), name="business_day_ends_by_midnight"),
        ]

    def __str__(self) -> str:
        return "Qualification settings"


class QualifiedBy(models.TextChoices):
    SCORE = "score", "Score reached the MQL threshold"
    INTENT = "intent", "Explicit intent"
    BY_HAND = "by_hand", "Qualified by hand"
    CHAT = "chat", "Qualified in a website chat"


class HandoffStatus(models.TextChoices):
    PENDING = "pending", "Waiting for sales"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    CLOSED = "closed", "Closed"  # without a decision by sales: qualified again, or the lead merged into another


class Handoff(models.Model):
    """A qualified lead's arrival in the sales queue and what sales did with it, with its SLA clock."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="handoffs", db_index=False)
    arrived_at = models.DateTimeField(default=timezone.now)
    qualified_by = models.CharField(max_length=20, choices=QualifiedBy.choices)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it qualified, as recorded")
    source = models.CharField(max_length=30, blank=True, help_text="The lead's source when it arrived")
    intent_rule = models.ForeignKey(IntentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignment_rule = models.ForeignKey(
        AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    is_hot = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=HandoffStatus.choices, default=HandoffStatus.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejection_reason = models.CharField(max_length=500, blank=True, help_text="Why it was rejected or closed")
    first_touch_due_at = models.DateTimeField()
    decision_due_at = models.DateTimeField()
    first_touched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-arrived_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(status="pending"), name="one_pending_handoff_per_lead")
        ]
        indexes = [
            models.Index(fields=["lead", "arrived_at"]),
            models.Index(fields=["status", "arrived_at"]),
            models.Index(fields=["first_touched_at", "first_touch_due_at"]),
        ]

    def __str__(self) -> str:
        return f"Lead {self.lead_id} arrived {self.arrived_at:%Y-%m-%d %H:%M} ({self.status})"


class SlaKind(models.TextChoices):
    FIRST_TOUCH = "first_touch", "First touch"
    DECISION = "decision", "Accept or reject"


class SlaBreach(models.Model):
    """A response time missed: recorded once per handoff and kind, when the worker first sees it."""

    handoff = models.ForeignKey(Handoff, on_delete=models.CASCADE, related_name="breaches")
    kind = models.CharField(max_length=20, choices=SlaKind.choices)
    due_at = models.DateTimeField()
    detected_at = models.DateTimeField(default=timezone.now)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reassigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["handoff", "kind"], name="one_breach_per_handoff_and_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} missed on {self.handoff}"
