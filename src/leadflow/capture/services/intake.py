"""The one capture service every front door ends in: answers become a contact and a lead through the accounts and
leads services (so duplicates, scoring, qualification and nurture apply), with the door recorded."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.dateparse import parse_date

from leadflow.accounts.models import Contact
from leadflow.accounts.selectors import contact_with_email
from leadflow.accounts.services import normalise_email, update_contact
from leadflow.consent.models import Purpose
from leadflow.consent.services import record_consent
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import store_events
from leadflow.errors import InvalidInput
from leadflow.leads.models import Authority, Lead
from leadflow.leads.services import create_lead, open_lead_for, update_lead
from leadflow.nurture.models import Sequence
from leadflow.nurture.services.enrolment import enrol
from leadflow.qualification.services import promote_for_intent
from leadflow.users.models import User
from leadflow.users.services import notify

from ..models import Target

CONTACT_TARGETS = {Target.FIRST_NAME, Target.LAST_NAME, Target.PHONE, Target.JOB_TITLE}
LEAD_TARGETS = {Target.COMPANY, Target.BUDGET, Target.AUTHORITY, Target.NEED, Target.TIMING}
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


class DoorRules(Protocol):
    """What a front door decides about the leads it brings (a form, a lead-ads source, a chat script)."""

    @property
    def lead_source(self) -> str: ...
    @property
    def is_explicit_intent(self) -> bool: ...
    @property
    def sequence_id(self) -> int | None: ...
    @property
    def sequence(self) -> Sequence | None: ...
    @property
    def notify(self) -> User | None: ...


@dataclass(frozen=True)
class Captured:
    lead: Lead
    contact: Contact
    created: bool  # a new lead, not an update of the person's open one


def clean_answer(target: str, value: Any) -> Any:
    """An answer in the type its target holds; InvalidInput naming the target when it cannot be."""
    text = str(value).strip() if value is not None else ""
    if target == Target.EMAIL:
        try:
            validate_email(text)
        except ValidationError:
            raise InvalidInput.on("email", "Enter a valid email address.") from None
        return normalise_email(text)
    if target == Target.BUDGET:
        try:
            amount = Decimal(text.replace(",", "").lstrip("$€£"))
        except InvalidOperation:
            raise InvalidInput.on(target, "Enter a number.") from None
        if amount < 0 or not amount.is_finite():
            raise InvalidInput.on(target, "Enter an amount of zero or more.")
        return amount
    if target == Target.TIMING:
        day = parse_date(text) if text else None
        if day is None:
            raise InvalidInput.on(target, "Enter a date as YYYY-MM-DD.")
        return day
    if target == Target.AUTHORITY:
        by_label = {label.lower(): value for value, label in Authority.choices}
        choice = by_label.get(text.lower(), text.lower().replace(" ", "_"))
        return choice if choice in Authority.values else Authority.UNKNOWN
    return text[:200] if target != Target.NEED else text


def _fill_blanks(row: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Of these values, those for fields the row leaves blank (what sales typed stays)."""
    return {name: value for name, value in values.items() if getattr(row, name) in ("", None, Authority.UNKNOWN)}


@transaction.atomic
def capture_lead(
    *,
    door: DoorRules,
    through: str,
    answers: dict[str, Any],
    properties: dict[str, str] | None = None,
    utm: dict[str, str] | None = None,
    consent_wording: str = "",
    consent_confirmed: bool = True,
    ip_address: str | None = None,
    at: datetime,
) -> Captured:
    """Create the person's lead, or update their open one, from cleaned answers keyed by `Target`; record the
    door (`through`) as an event on the timeline, the consent when one was given, then do what the door asks:
    explicit intent, a nurture sequence, a notification."""
    email = answers.get(Target.EMAIL)
    if not email:
        raise InvalidInput.on("email", "An email address is required.")
    contact_fields: dict[str, Any] = {k: v for k, v in answers.items() if k in CONTACT_TARGETS and v not in ("", None)}
    lead_fields: dict[str, Any] = {k: v for k, v in answers.items() if k in LEAD_TARGETS and v not in ("", None)}
    found = contact_with_email(email)
    if found is not None:
        changes = _fill_blanks(found, contact_fields)
        if properties and any(found.attributes.get(name) != value for name, value in properties.items()):
            changes["attributes"] = {**found.attributes, **properties}
        if changes:
            update_contact(found, **changes)
    tags: dict[str, Any] = {key: value[:200] for key, value in (utm or {}).items() if key in UTM_KEYS and value}
    lead = open_lead_for(found) if found is not None else None
    if lead is None:
        lead = create_lead(
            by=None, email=email, contact=found, source=door.lead_source, source_detail=through[:200],
            first_touch_channel=through[:100], created_at=at, email_looked_up=found is None,
            **{key: value for key, value in tags.items() if key in ("utm_source", "utm_medium", "utm_campaign")},
            **({**contact_fields, "attributes": properties or {}} if found is None else {}), **lead_fields,
        )  # fmt: skip
        created = True
    else:
        blanks = _fill_blanks(lead, lead_fields)
        if blanks:
            update_lead(lead, by=None, **blanks)
        created = False
    contact = lead.contact
    if consent_wording:
        record_consent(
            contact, purpose=Purpose.MARKETING_EMAIL, wording=consent_wording, through=through,
            confirmed=consent_confirmed, ip_address=ip_address, at=at,
        )  # fmt: skip
    store_events(
        [
            Event(
                type=EventType.FORM_SUBMISSION, occurred_at=at, lead=lead, contact=contact, source="capture",
                properties={"title": through, **tags},
            )
        ]
    )  # fmt: skip
    if door.is_explicit_intent:
        lead.refresh_from_db(fields=["lifecycle_stage"])  # the event may have promoted it already
        promote_for_intent(lead, what=through)
    if door.sequence_id is not None and created and door.sequence is not None and door.sequence.is_active:
        enrol(door.sequence, [lead.pk], by=None, at=at)
    if door.notify is not None and door.notify.is_active:
        word = "New lead" if created else "Returning lead"
        notify([door.notify], f"{word} by {through}: {contact}", url=reverse("web:lead", args=[lead.pk]))
    return Captured(lead=lead, contact=contact, created=created)
