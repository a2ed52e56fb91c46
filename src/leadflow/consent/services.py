"""Writes to the consent ledger: consent given (at once, or awaiting its confirmation), confirmed, withdrawn."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from leadflow.accounts.models import Contact
from leadflow.errors import InvalidInput

from .models import Consent, ConsentStatus, Purpose


@transaction.atomic
def record_consent(
    contact: Contact,
    *,
    purpose: str,
    wording: str,
    through: str,
    confirmed: bool,
    ip_address: str | None = None,
    at: datetime | None = None,
) -> Consent:
    """Record that the person agreed to `purpose` in these words through this door. Unconfirmed (double opt-in),
    it awaits confirmation, unless the person had already given it: a consent given stays given."""
    if purpose not in Purpose.values:
        raise InvalidInput.on("purpose", f"Must be one of: {', '.join(Purpose.values)}.")
    wording = wording.strip()
    if not wording:
        raise InvalidInput.on("wording", "Consent needs the words the person agreed to.")
    at = at or timezone.now()
    consent = Consent.objects.select_for_update().filter(contact=contact, purpose=purpose).first()
    if consent is None:
        consent = Consent(contact=contact, purpose=purpose)
    elif consent.is_given and not confirmed:
        return consent
    consent.status = ConsentStatus.GIVEN if confirmed else ConsentStatus.AWAITING_CONFIRMATION
    consent.wording, consent.through, consent.ip_address, consent.given_at = wording, through[:200], ip_address, at
    consent.confirmed_at = at if confirmed else None
    consent.withdrawn_at = None
    consent.save()
    return consent


@transaction.atomic
def confirm_consent(consent: Consent, *, at: datetime | None = None) -> Consent:
    """The person confirmed (the double opt-in link): an awaiting consent counts from now; others stay as they are."""
    if consent.status == ConsentStatus.AWAITING_CONFIRMATION:
        consent.status, consent.confirmed_at = ConsentStatus.GIVEN, at or timezone.now()
        consent.save(update_fields=["status", "confirmed_at", "updated_at"])
    return consent


def withdraw_consent(contact: Contact, *, purpose: str, at: datetime | None = None) -> int:
    """The person took their consent back (an unsubscribe); returns how many records changed."""
    at = at or timezone.now()
    return (
        Consent.objects.filter(contact=contact, purpose=purpose)
        .exclude(status=ConsentStatus.WITHDRAWN)
        .update(status=ConsentStatus.WITHDRAWN, withdrawn_at=at, updated_at=at)
    )
