"""The consent ledger: what each person agreed to, per purpose, in which words, when and through which door."""

from django.db import models
from django.utils import timezone

from leadflow.accounts.models import Contact


class Purpose(models.TextChoices):
    MARKETING_EMAIL = "marketing_email", "Marketing email"


class ConsentStatus(models.TextChoices):
    AWAITING_CONFIRMATION = "awaiting", "Awaiting confirmation"
    GIVEN = "given", "Given"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Consent(models.Model):
    """One person's consent to one purpose: the exact wording they agreed to, when, and through which door (a form,
    a lead-ads source, an import); with double opt-in it counts only once confirmed."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=30, choices=Purpose.choices)
    status = models.CharField(max_length=20, choices=ConsentStatus.choices)
    wording = models.TextField(help_text="The words the person agreed to, exactly as shown")
    given_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When the person confirmed (double opt-in)")
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    through = models.CharField(max_length=200, help_text="The door, e.g. 'Form: Request a demo (embedded)'")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-given_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["contact", "purpose"], name="consent_one_per_purpose")]
        indexes = [models.Index(fields=["purpose", "status"])]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.get_purpose_display()} ({self.get_status_display()})"

    @property
    def is_given(self) -> bool:
        return self.status == ConsentStatus.GIVEN
