"""Lead scoring: the rules marketing writes (fit and engagement), each lead's score with the breakdown that made it,
and the score's history."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadflow.engagement.models import EventType
from leadflow.jobs.models import BackgroundJob
from leadflow.leads.models import Lead


class RuleKind(models.TextChoices):
    FIT = "fit", "Fit"
    ENGAGEMENT = "engagement", "Engagement"


class Matcher(models.TextChoices):
    EQUALS = "equals", "is"
    ANY_OF = "any_of", "is any of"
    CONTAINS_ANY = "contains_any", "contains any of"
    ENDS_WITH_ANY = "ends_with_any", "ends with any of"
    IS_TRUE = "is_true", "is yes"
    IS_FALSE = "is_false", "is no"
    AT_LEAST = "at_least", "is at least"
    BELOW = "below", "is below"


class ScoringRule(models.Model):
    """Points for what a lead is (fit: a field matches) or does (engagement: each matching event, halving every
    `half_life_days`). Negative points mark disqualifiers; `cap` bounds what one rule can give or take."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    field = models.CharField(max_length=50, blank=True, help_text="Fit rules: the lead, contact or account field")
    matcher = models.CharField(max_length=20, choices=Matcher.choices, blank=True)
    value = models.JSONField(null=True, blank=True, help_text="What the field is compared with")
    event_type = models.CharField(max_length=30, choices=EventType.choices, blank=True)
    property_name = models.CharField(max_length=100, blank=True, help_text="Engagement rules: only events whose …")
    property_contains = models.CharField(max_length=200, blank=True, help_text="… property contains this text")
    points = models.IntegerField()
    cap = models.PositiveIntegerField(null=True, blank=True, help_text="Most points (either sign) the rule gives")
    half_life_days = models.FloatField(null=True, blank=True, help_text="An event's points halve every N days")
    in_icp = models.BooleanField(default=False, help_text="Part of the ideal customer profile")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name", "id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(points=0), name="scoring_rule_points_not_zero"),
            models.CheckConstraint(
                condition=models.Q(half_life_days__isnull=True) | models.Q(half_life_days__gt=0),
                name="scoring_rule_half_life_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ScoringSettings(models.Model):
    """The one row of scoring settings."""

    mql_threshold = models.PositiveIntegerField(
        default=60, help_text="A lead whose total reaches this becomes a prospect (marketing-qualified), once"
    )
    rules_changed_at = models.DateTimeField(default=timezone.now)
    rescored_at = models.DateTimeField(null=True, blank=True, help_text="When every lead was last scored afresh")

    def __str__(self) -> str:
        return f"MQL at {self.mql_threshold}"


class LeadScore(models.Model):
    """A lead's score as of `computed_at`: fit points, engagement points (which keep halving after that moment:
    `decaying` holds each engagement rule's uncapped points then) and the breakdown that produced them."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="score")
    fit = models.IntegerField(default=0)
    engagement = models.FloatField(default=0)
    total = models.FloatField(default=0, db_index=True)
    icp_match = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Percent of the ICP rules met")
    breakdown = models.JSONField(default=list, help_text="[{rule, name, kind, points}] as of computed_at")
    decaying = models.JSONField(default=dict, help_text="{engagement rule id: uncapped points at computed_at}")
    computed_at = models.DateTimeField(default=timezone.now)
    mql_at = models.DateTimeField(null=True, blank=True, help_text="When it first reached the MQL threshold")

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.total:.0f}"


class ScoreChange(models.Model):
    """A step in a lead's score history: what it became and why."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_changes", db_index=False)
    at = models.DateTimeField(default=timezone.now)
    fit = models.IntegerField()
    engagement = models.FloatField()
    total = models.FloatField()
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["lead", "-at"])]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.total:.0f} ({self.reason})"


class RequestedJob(BackgroundJob):
    """A scoring job someone asked for (none when the worker's schedule did)."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        abstract = True


class RescoreJob(RequestedJob):
    """Scoring every lead afresh after the rules changed, run by the worker (progress counts leads)."""

    def __str__(self) -> str:
        return f"Rescore {self.pk} ({self.status})"


class ConversionModel(models.Model):
    """A trained conversion model (its version is its id): the probability that a lead becomes a customer within
    `conversion_days` of its creation, learned from leads whose outcome is known, with metrics on a held-out part
    of them. Serving uses the newest good one."""

    trained_at = models.DateTimeField(default=timezone.now)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversion_days = models.PositiveSmallIntegerField(help_text="Converted = a customer within this many days")
    window_days = models.PositiveSmallIntegerField(help_text="The features describe a lead's first this many days")
    known = models.PositiveIntegerField(help_text="Leads with a known outcome")
    converted = models.PositiveIntegerField(help_text="How many of them converted")
    training_size = models.PositiveIntegerField()
    holdout_size = models.PositiveIntegerField()
    roc_auc = models.FloatField(help_text="On the held-out leads")
    brier = models.FloatField(help_text="On the held-out leads (lower is better)")
    baseline_brier = models.FloatField(help_text="Brier of always saying the base rate, for comparison")
    is_good = models.BooleanField(help_text="Ranks better than chance and beats the base rate's Brier")
    calibration = models.JSONField(default=list, help_text="[[mean predicted, observed rate, leads]] per bin")
    importance = models.JSONField(
        default=list, help_text="[[what the features describe, share of gain]], largest first"
    )
    spec = models.JSONField(help_text="{outcomes, vocabularies}: how the features were built")
    booster = models.TextField(help_text="The gradient-boosted trees (LightGBM text format)")
    calibration_map = models.JSONField(help_text="{raw, probability}: points mapping a tree score to a probability")
    seconds = models.FloatField(default=0, help_text="How long training took")

    class Meta:
        ordering = ["-trained_at", "-id"]

    def __str__(self) -> str:
        return f"Model v{self.pk} (AUC {self.roc_auc:.3f})"


class LeadPrediction(models.Model):
    """A lead's calibrated probability of converting, by a model, as of `computed_at` (kept for ranking, lists and
    export; the factors behind it are worked out when they are shown)."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="prediction")
    model = models.ForeignKey(ConversionModel, on_delete=models.CASCADE, related_name="predictions")
    probability = models.FloatField(db_index=True)
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.probability:.0%}"


class TrainingJob(RequestedJob):
    """Training a conversion model and predicting every lead with it, run by the worker."""

    model = models.ForeignKey(
        "ConversionModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The model this job trained",
    )  # fmt: skip

    def __str__(self) -> str:
        return f"Training {self.pk} ({self.status})"
