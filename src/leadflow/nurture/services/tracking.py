"""What recipients and the mail system report back: opens, clicks, unsubscribes, replies, bounces and complaints."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from leadflow.accounts.models import Contact
from leadflow.consent.models import Purpose
from leadflow.consent.services import withdraw_consent
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import store_events
from leadflow.errors import InvalidInput
from leadflow.users.models import User

from ..models import Delivery, Suppression, SuppressionReason
from .authoring import ensure_can_nurture

# --- tracking -----------------------------------------------------------------------------------------------------


def _track(delivery: Delivery, kind: str, at: datetime, **properties: Any) -> None:
    store_events(
        [
            Event(
                type=kind, occurred_at=at, lead_id=delivery.lead_id, contact_id=delivery.lead.contact_id,
                source="nurture", properties={
                    "sequence": delivery.step.sequence.name, "step": delivery.step.position,
                    "variant": delivery.variant, "delivery": delivery.pk, **properties,
                },
            )
        ]
    )  # fmt: skip


@transaction.atomic
def record_open(delivery: Delivery, *, at: datetime | None = None) -> None:
    """An email was opened (its pixel loaded): the first open is kept on the delivery, each one is an event."""
    at = at or timezone.now()
    Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(opened_at=at)
    _track(delivery, EventType.EMAIL_OPEN, at)


@transaction.atomic
def record_click(delivery: Delivery, url: str, *, at: datetime | None = None) -> None:
    """A link in an email was followed (a click implies the email was opened)."""
    at = at or timezone.now()
    Delivery.objects.filter(pk=delivery.pk, clicked_at__isnull=True).update(clicked_at=at)
    Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(opened_at=at)
    _track(delivery, EventType.EMAIL_CLICK, at, url=url[:500])


def suppress(email: str, reason: str, *, note: str = "", at: datetime | None = None) -> Suppression:
    """Put an address on the suppression list (the first reason stands)."""
    if reason not in SuppressionReason.values:
        raise InvalidInput.on("reason", f"Must be one of: {', '.join(SuppressionReason.values)}.")
    email = (email or "").strip().lower()
    if not email:
        raise InvalidInput.on("email", "This field is required.")
    suppression, _ = Suppression.objects.get_or_create(
        email=email, defaults={"reason": reason, "note": note[:300], "at": at or timezone.now()}
    )
    return suppression


@transaction.atomic
def set_email_consent(contact: Contact, *, opted_in: bool, how: str, at: datetime | None = None) -> None:
    """Record the person's choice about marketing email (an unsubscribe also suppresses the address)."""
    at = at or timezone.now()
    Contact.objects.filter(pk=contact.pk).update(email_opt_in=opted_in, consent_recorded_at=at, updated_at=at)
    if not opted_in:
        withdraw_consent(contact, purpose=Purpose.MARKETING_EMAIL, at=at)
    if contact.email:
        if opted_in:
            Suppression.objects.filter(email=contact.email, reason=SuppressionReason.UNSUBSCRIBED).delete()
        else:
            suppress(contact.email, SuppressionReason.UNSUBSCRIBED, note=how, at=at)


@transaction.atomic
def record_outcome(delivery: Delivery, outcome: str, *, by: User, at: datetime | None = None) -> Delivery:
    """What the mail system reported back: a reply, a bounce or a complaint (the latter two suppress the address)."""
    ensure_can_nurture(by)
    at = at or timezone.now()
    if outcome == "replied":
        Delivery.objects.filter(pk=delivery.pk, replied_at__isnull=True).update(replied_at=at)
    elif outcome in ("bounced", "complained"):
        Delivery.objects.filter(pk=delivery.pk, bounced_at__isnull=True).update(bounced_at=at)
        suppress(delivery.to_email, outcome, note=f"Email {delivery.pk}", at=at)
    else:
        raise InvalidInput.on("outcome", "Must be replied, bounced or complained.")
    delivery.refresh_from_db()
    return delivery
