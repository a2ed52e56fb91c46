"""Nurture: segments of leads, email templates, drip sequences of steps, enrolments with a due time, the emails
they send (with opens, clicks, replies, bounces), the suppression list, and A/B tests on an email step."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leadflow.leads.models import Lead


class Segment(models.Model):
    """A saved, dynamic filter over leads: `conditions` is a list of {"field", "op", "value", …} (see
    nurture.segments), met all together or any one (`match`)."""

    name = models.CharField(max_length=200, unique=True)
    description = models.CharField(max_length=500, blank=True)
    match = models.CharField(max_length=3, choices=[("all", "All conditions"), ("any", "Any condition")], default="all")
    conditions = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EmailTemplate(models.Model):
    """An email with merge fields ({{ contact.first_name }}, {{ account.name }}, {{ owner.first_name }},
    {{ unsubscribe_url }}): the HTML body is autoescaped; the plain-text part is made from it."""

    name = models.CharField(max_length=200, unique=True)
    subject = models.CharField(max_length=300)
    body = models.TextField(help_text="HTML with merge fields")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExitWhen(models.TextChoices):
    OPPORTUNITY = "opportunity", "Became an opportunity"
    REPLIED = "replied", "Replied"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BOUNCED = "bounced", "Bounced"
    OTHER_SEQUENCE = "other_sequence", "Entered another sequence"


class Sequence(models.Model):
    """A drip campaign: its steps run in order for each enrolled lead; leads in `segment` are enrolled as they
    enter it (continuously) while the sequence is active."""

    name = models.CharField(max_length=200, unique=True)
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.SET_NULL, related_name="sequences")
    is_active = models.BooleanField(default=False)
    exit_when = models.JSONField(default=list, help_text="ExitWhen values")
    allow_reentry = models.BooleanField(default=False)
    reentry_after_days = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    EMAIL = "email", "Send email"
    WAIT = "wait", "Wait"
    BRANCH = "branch", "Branch on behaviour"
    UPDATE_FIELD = "update_field", "Update a field"
    SET_STAGE = "set_stage", "Set lifecycle stage"
    CREATE_TASK = "create_task", "Create a task for the owner"
    NOTIFY = "notify", "Notify the owner"


class Step(models.Model):
    """One step of a sequence. `config` by kind — wait: {"days", "hours"} or {"weekday", "hour"} (the next such
    moment in the lead's time zone); branch: {"if": {...}, "else_go_to": position}; update_field: {"field", "value"};
    set_stage: {"stage", "reason"}; create_task: {"subject", "due_days"}; notify: {"text"}. An email step sends
    `template`, or splits between it (A) and `variant_template` (B) until the test has a winner."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=StepKind.choices)
    config = models.JSONField(default=dict, blank=True)
    template = models.ForeignKey(EmailTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    variant_template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    test_metric = models.CharField(
        max_length=10, choices=[("open", "Opens"), ("click", "Clicks"), ("reply", "Replies")], default="open"
    )
    test_deadline = models.DateTimeField(null=True, blank=True, help_text="Pick the better variant by then")
    winner = models.CharField(max_length=1, blank=True, help_text="A or B, once decided")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision = models.TextField(blank=True, help_text="Why the winner won, in words")

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [models.UniqueConstraint(fields=["sequence", "position"], name="step_position_unique")]

    def __str__(self) -> str:
        return f"{self.sequence} #{self.position}: {self.get_kind_display()}"


class EnrolmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


class Enrolment(models.Model):
    """A lead going through a sequence: the step it runs next (`position`) and when (`due_at`)."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrolments")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrolments")
    status = models.CharField(max_length=20, choices=EnrolmentStatus.choices, default=EnrolmentStatus.ACTIVE)
    position = models.PositiveIntegerField(default=1)
    due_at = models.DateTimeField(default=timezone.now)
    entered_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="None: the sequence's segment",
    )  # fmt: skip

    class Meta:
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "lead"], condition=Q(status="active"), name="one_active_enrolment"
            )
        ]
        indexes = [
            # The worker claims active enrolments in (due_at, id) order: this index hands them over in that order,
            # so a claim reads its batch and stops, even when a bulk enrolment made thousands due at one moment.
            models.Index(
                fields=["due_at", "id"], condition=Q(status=EnrolmentStatus.ACTIVE), name="nurture_enrolment_due"
            ),
            models.Index(fields=["lead", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} in {self.sequence_id} ({self.status})"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SUPPRESSED = "suppressed", "Suppressed"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One email an enrolment's step sends: queued once (unique per enrolment and step), then claimed (`sending`,
    committed before the mail server is called) and marked sent; its Message-ID is fixed by its id."""

    # Looked up by the unique (enrolment, step) and the (step, variant) index: an index of the key alone would be
    # one more written with each claim and each email sent.
    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    to_email = models.CharField(max_length=254)
    domain = models.CharField(max_length=254, help_text="The address's domain, for throttling")
    variant = models.CharField(max_length=1, default="A")
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    not_before = models.DateTimeField(default=timezone.now, help_text="Quiet hours and throttling push this out")
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker began sending it")
    sent_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text="Why it was suppressed or failed")
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["enrolment", "step"], name="one_delivery_per_step")]
        indexes = [
            # Only the queue and the emails being sent are looked up by status: indexes of them alone, so an email
            # that is sent leaves them instead of moving inside a bigger one (fewer pages written per commit).
            models.Index(
                fields=["not_before", "id"], condition=Q(status=DeliveryStatus.QUEUED), name="nurture_delivery_queue"
            ),
            models.Index(
                fields=["claimed_at"], condition=Q(status=DeliveryStatus.SENDING), name="nurture_delivery_sending"
            ),
            models.Index(fields=["lead", "created_at"]),
            models.Index(fields=["step", "variant"]),
            # The throttles count the emails sent in the last hour, per domain and in all: only sent emails are in
            # these, so sending one adds an entry instead of moving one from among the unsent.
            models.Index(
                fields=["domain", "sent_at"], condition=Q(sent_at__isnull=False), name="nurture_sent_to_domain"
            ),
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="nurture_delivery_sent"),
            # Whether a lead replied (an exit): only replied emails are in it.
            models.Index(fields=["lead"], condition=Q(replied_at__isnull=False), name="nurture_delivery_replied"),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"Email {self.pk} to {self.to_email} ({self.status})"


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Complained"


class Suppression(models.Model):
    """An address no nurture email goes to, and why."""

    email = models.CharField(max_length=254, unique=True)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"


class NurtureSettings(models.Model):
    """The one row of sending settings: quiet hours (in the lead's time zone, else `time_zone`) and throttling."""

    quiet_from = models.PositiveSmallIntegerField(default=20, help_text="Hour quiet time starts")
    quiet_until = models.PositiveSmallIntegerField(default=8, help_text="Hour quiet time ends")
    time_zone = models.CharField(max_length=64, default="UTC")
    per_domain_per_hour = models.PositiveIntegerField(default=100, help_text="Most emails to one domain an hour")
    per_hour = models.PositiveIntegerField(default=20000, help_text="Most emails an hour in all")
    from_email = models.CharField(max_length=254, blank=True, help_text="Sender; DEFAULT_FROM_EMAIL when blank")

    class Meta:
        verbose_name_plural = "nurture settings"

    def __str__(self) -> str:
        return "Nurture settings"
