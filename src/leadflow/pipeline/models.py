"""Sales pipelines, their stages, opportunities with their stage history, and activities."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadflow.accounts.models import Account, Contact
from leadflow.leads.models import Lead, LeadSource


class Pipeline(models.Model):
    name = models.CharField(max_length=100, unique=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField()
    probability = models.PositiveSmallIntegerField(help_text="Default win probability, in percent")
    is_won = models.BooleanField(default=False)
    is_lost = models.BooleanField(default=False)

    class Meta:
        ordering = ["pipeline", "order"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "order"], name="stage_order_unique"),
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_name_unique"),
            models.CheckConstraint(condition=models.Q(probability__lte=100), name="stage_probability_percent"),
            models.CheckConstraint(condition=~models.Q(is_won=True, is_lost=True), name="stage_not_both_won_and_lost"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


class LostReason(models.Model):
    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Opportunity(models.Model):
    name = models.CharField(max_length=200)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="opportunities")
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        help_text="Primary contact",
    )
    lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        help_text="The lead this opportunity was converted from",
    )
    lead_source = models.CharField(
        max_length=30,
        choices=LeadSource.choices,
        blank=True,
        editable=False,
        help_text="Its lead's source, kept in step with the lead (analytics reads it without the join)",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    team = models.ForeignKey(
        "users.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities")
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, related_name="opportunities", db_index=False
    )  # indexed by (stage, …) below
    furthest_stage = models.ForeignKey(
        Stage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The furthest open stage its history reached (kept by the writers of its stage moves)",
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    expected_close_date = models.DateField(null=True, blank=True)
    probability_override = models.PositiveSmallIntegerField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    lost_reason = models.ForeignKey(LostReason, null=True, blank=True, on_delete=models.PROTECT)
    review_note = models.TextField(blank=True, help_text="What we learned from winning or losing it")
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "opportunities"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(probability_override__isnull=True) | models.Q(probability_override__lte=100),
                name="opportunity_probability_percent",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="opportunity_amount_not_negative"),
        ]
        indexes = [
            models.Index(fields=["pipeline", "stage", "furthest_stage"]),
            models.Index(fields=["lead_source", "stage"]),
            models.Index(fields=["owner", "stage"]),
            models.Index(fields=["team", "owner"]),
            models.Index(fields=["expected_close_date"]),
            # The won deals' revenue and cycle days, per pipeline, furthest stage or source, off the index alone.
            models.Index(
                fields=["stage", "pipeline", "furthest_stage", "lead_source", "amount", "closed_at", "created_at"],
                name="deal_stage_figures",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def probability(self) -> int:
        """Win probability in percent: the override if set, else the stage's default."""
        return self.probability_override if self.probability_override is not None else self.stage.probability

    @property
    def is_closed(self) -> bool:
        return self.stage.is_closed


class OpportunityStageChange(models.Model):
    """One move of an opportunity between stages; what velocity and time-in-stage are computed from."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes", db_index=False
    )  # indexed by (opportunity, at)
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # indexed by (to_stage, opportunity)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=500, blank=True)
    left_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="When the next move happened")
    days_in_stage = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["opportunity", "at"]),
            models.Index(fields=["to_stage", "opportunity"]),
            models.Index(fields=["to_stage", "days_in_stage"]),
            # Each deal's current spell: where open deals stand and since when.
            models.Index(
                fields=["to_stage", "at"], condition=models.Q(left_at__isnull=True), name="deal_current_spell"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id}: {self.from_stage_id or '∅'} → {self.to_stage_id}"


class ForecastSnapshot(models.Model):
    """A pipeline's open deals as a month began, each in the stage it was in (`deals`): what a forecast made that
    day weighed. Worked out from the stage history and kept in step with it, like the spells, so the forecast
    backtest reads these rows instead of replaying the history."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="forecast_snapshots")
    as_of = models.DateTimeField(help_text="The month's first moment, in the site's time zone")
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-as_of"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "as_of"], name="one_forecast_snapshot_a_month")]

    def __str__(self) -> str:
        return f"{self.pipeline} as of {self.as_of:%Y-%m-%d}"


class ForecastSnapshotDeal(models.Model):
    """A deal open when the snapshot's month began, and the stage it was in then."""

    snapshot = models.ForeignKey(
        ForecastSnapshot, on_delete=models.CASCADE, related_name="deals", db_index=False
    )  # indexed by (snapshot, opportunity)
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="+")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "opportunity"], name="a_deal_once_a_forecast_snapshot")
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id} in {self.snapshot}"


class ActivityKind(models.TextChoices):
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    DEMO = "demo", "Demo"
    NOTE = "note", "Note"
    TASK = "task", "Task"


class Activity(models.Model):
    kind = models.CharField(max_length=10, choices=ActivityKind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    is_done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=100, blank=True)
    # These three are indexed by the composite indexes below, which lead with them.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        db_index=False,
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    opportunity = models.ForeignKey(
        Opportunity, null=True, blank=True, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lead__isnull=False) | models.Q(opportunity__isnull=False),
                name="activity_has_lead_or_opportunity",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "is_done", "due_at"]),
            models.Index(fields=["lead", "-created_at"]),
            models.Index(fields=["opportunity", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"
