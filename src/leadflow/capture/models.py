"""The front doors: web forms (hosted, embedded, posted), lead-ads webhook sources, what came through them
(submissions, deliveries) and what was refused."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from leadflow.accounts.models import Contact
from leadflow.leads.models import Lead, LeadSource


def new_key() -> str:
    return secrets.token_urlsafe(12)


class Door(models.TextChoices):
    HOSTED = "hosted", "Hosted page"
    EMBED = "embed", "Embedded form"
    POST = "post", "HTML POST"
    WEBHOOK = "webhook", "Lead-ads webhook"


class Target(models.TextChoices):
    """Where an answer goes: a contact field, a lead field, a BANT answer, or a custom property of the contact."""

    EMAIL = "email", "Email"
    FIRST_NAME = "first_name", "First name"
    LAST_NAME = "last_name", "Last name"
    PHONE = "phone", "Phone"
    JOB_TITLE = "job_title", "Job title"
    COMPANY = "company_name", "Company"
    BUDGET = "budget_amount", "Budget (BANT)"
    AUTHORITY = "authority", "Authority (BANT)"
    NEED = "need", "Need (BANT)"
    TIMING = "timing_target_date", "Timing (BANT)"
    PROPERTY = "property", "Custom property"


class FieldKind(models.TextChoices):
    TEXT = "text", "Text"
    EMAIL = "email", "Email"
    PHONE = "tel", "Phone"
    TEXTAREA = "textarea", "Long text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    CHOICE = "choice", "Choice"


class DoorSettings(models.Model):
    """What every front door does with a lead it brings: its source, and per door whether it counts as explicit
    intent, enrols in a sequence and tells an owner."""

    name = models.CharField(max_length=200)
    key = models.CharField(max_length=32, unique=True, default=new_key, editable=False, help_text="In public URLs")
    lead_source = models.CharField(max_length=30, choices=LeadSource.choices, default=LeadSource.INBOUND_MARKETING)
    is_explicit_intent = models.BooleanField(
        default=False, help_text="A submission makes the lead a prospect at once (a demo or pricing request)"
    )
    sequence = models.ForeignKey(
        "nurture.Sequence", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Enrol each new lead in this nurture sequence",
    )  # fmt: skip
    notify = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Tell this person about each submission",
    )  # fmt: skip
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class Form(DoorSettings):
    """A web form: its fields, consent checkbox, what a visitor sees after sending, and where it may be shown."""

    slug = models.SlugField(max_length=80, unique=True, help_text="The hosted page is /f/<slug>")
    title = models.CharField(max_length=200, blank=True, help_text="The heading above the form")
    intro = models.TextField(blank=True)
    submit_label = models.CharField(max_length=60, default="Send")
    consent_wording = models.TextField(
        blank=True, help_text="The marketing-email consent checkbox's exact words; empty for no checkbox"
    )
    consent_required = models.BooleanField(default=False, help_text="The form cannot be sent without consent")
    double_opt_in = models.BooleanField(
        default=False, help_text="Consent counts once the person confirms by the link emailed to them"
    )
    thank_you_message = models.TextField(default="Thank you. We will be in touch shortly.")
    redirect_url = models.URLField(blank=True, help_text="Send the visitor here instead of showing the message")
    allowed_origins = models.TextField(
        blank=True, help_text="Sites that may embed or post this form, one origin a line: https://www.example.com"
    )

    class Meta:
        ordering = ["name", "id"]

    def origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()]


class FormField(models.Model):
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="fields")
    position = models.PositiveIntegerField(default=0)
    label = models.CharField(max_length=200)
    name = models.SlugField(max_length=60, help_text="The field's name in a posted form")
    kind = models.CharField(max_length=20, choices=FieldKind.choices, default=FieldKind.TEXT)
    target = models.CharField(max_length=30, choices=Target.choices)
    property_name = models.SlugField(max_length=60, blank=True, help_text="For a custom property: its name")
    required = models.BooleanField(default=False)
    choices = models.TextField(blank=True, help_text="For a choice: one option a line")
    help_text = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["form", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["form", "name"], name="form_field_name_unique")]

    def __str__(self) -> str:
        return self.label

    def options(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class Submission(models.Model):
    """One accepted form submission: the answers as sent, where the visitor came from, the consent wording shown
    when they ticked it, and the lead it created or updated."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="submissions", db_index=False)
    door = models.CharField(max_length=20, choices=Door.choices)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_lead = models.BooleanField(default=False, help_text="A new lead, not an update of an open one")
    answers = models.JSONField(default=dict)
    utm = models.JSONField(default=dict, blank=True)
    referrer = models.CharField(max_length=500, blank=True)
    page_url = models.CharField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    consent_wording = models.TextField(blank=True, help_text="The wording the person ticked, exactly; empty: no")
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["form", "-submitted_at"])]

    def __str__(self) -> str:
        return f"{self.form_id}: {self.submitted_at:%Y-%m-%d %H:%M}"


class RefusalReason(models.TextChoices):
    TOKEN = "token", "Missing or forged form token"
    HONEYPOT = "honeypot", "Honeypot filled in"
    TOO_FAST = "too_fast", "Sent faster than a person types"
    RATE_LIMIT = "rate_limit", "Too many from one address"
    ORIGIN = "origin", "From a site not allowed"
    INVALID = "invalid", "Answers did not validate"
    INACTIVE = "inactive", "Form switched off"


class Refusal(models.Model):
    """How many submissions a form refused, per reason and day (counted, never stored as leads)."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="refusals", db_index=False)
    reason = models.CharField(max_length=20, choices=RefusalReason.choices)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["form", "reason", "day"], name="refusal_one_per_day")]

    def __str__(self) -> str:
        return f"{self.form_id}: {self.count} {self.reason} on {self.day}"


class WebhookKind(models.TextChoices):
    FACEBOOK = "facebook", "Facebook Lead Ads"
    LINKEDIN = "linkedin", "LinkedIn Lead Gen Forms"
    GENERIC = "generic", "Generic JSON"


class WebhookAuth(models.TextChoices):
    HMAC = "hmac", "HMAC-SHA256 signature of the body"
    SHARED_SECRET = "secret", "Shared secret header"


class WebhookSource(DoorSettings):
    """A lead-ads source posting to its own signed endpoint, with the mapping of its fields to ours."""

    kind = models.CharField(max_length=20, choices=WebhookKind.choices)
    auth = models.CharField(max_length=10, choices=WebhookAuth.choices, default=WebhookAuth.HMAC)
    secret = models.CharField(max_length=200, default=new_key, help_text="The app secret or shared secret")
    field_mapping = models.JSONField(
        default=dict, blank=True, help_text="Their field (or LinkedIn question id) → ours: email, first_name, …"
    )

    class Meta:
        ordering = ["name", "id"]


class DeliveryResult(models.TextChoices):
    CREATED = "created", "Lead created"
    UPDATED = "updated", "Lead updated"
    DUPLICATE = "duplicate", "Already received"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One lead a source delivered: the payload as received, the result, and the lead; replayable."""

    source = models.ForeignKey(WebhookSource, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    payload_id = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(default=dict)
    result = models.CharField(max_length=20, choices=DeliveryResult.choices)
    message = models.CharField(max_length=500, blank=True)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["source", "-received_at"]),
            models.Index(fields=["source", "payload_id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "payload_id"],
                condition=models.Q(result__in=["created", "updated"]),
                name="delivery_once_per_payload",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id}: {self.payload_id} ({self.result})"
