"""Ingesting engagement events: in batches, idempotent by each event's external id."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet

from leadflow.accounts.models import Contact
from leadflow.errors import InvalidInput
from leadflow.leads.models import Lead
from leadflow.leads.selectors import being_worked, leads_visible_to
from leadflow.users.models import User

from .models import Event, EventType
from .signals import events_ingested

MAX_BATCH = 1000
NOBODY = {
    "lead_id": "No lead with this id that you may see.",
    "lead_external_id": "No lead with this external id that you may see.",
    "email": "No contact with this email.",
    "person": "Name the person by lead_id, email or lead_external_id.",
}


@dataclass(frozen=True)
class EventIn:
    """One event as a client names it: its person by lead id, contact email or lead external id."""

    type: str
    occurred_at: datetime
    lead_id: int | None = None
    email: str | None = None
    lead_external_id: str | None = None
    properties: dict[str, Any] | None = None
    source: str = "api"
    external_id: str | None = None


@dataclass(frozen=True)
class EventResult:
    index: int
    status: str  # "created", "duplicate" or "error"
    id: int | None = None
    field: str | None = None
    message: str = ""


def _people(items: list[EventIn], visible: QuerySet[Lead]) -> tuple[dict, dict, dict]:
    """Resolve every person the batch names in three queries: by id, by email, by external id."""
    ids = {item.lead_id for item in items if item.lead_id is not None}
    emails = {item.email.strip().lower() for item in items if item.email}
    external = {item.lead_external_id for item in items if item.lead_external_id}
    by_id = {lead.pk: lead for lead in visible.filter(pk__in=ids)} if ids else {}
    by_external = {lead.external_id: lead for lead in visible.filter(external_id__in=external)} if external else {}
    by_email: dict[str, tuple[Contact, Lead | None]] = {}
    if emails:
        for contact in Contact.objects.filter(email__in=emails):
            by_email[contact.email or ""] = (contact, None)
        open_leads = being_worked(visible.filter(contact__email__in=emails)).select_related("contact")
        for lead in open_leads:
            by_email[lead.contact.email or ""] = (lead.contact, lead)
    return by_id, by_email, by_external


def _locate(item: EventIn, people: tuple[dict, dict, dict]) -> tuple[Lead | None, int | None, str | None]:
    """The event's lead and contact id, or the name of the field that named nobody."""
    by_id, by_email, by_external = people
    if item.lead_id is not None:
        lead = by_id.get(item.lead_id)
        return (lead, lead.contact_id if lead else None, None if lead else "lead_id")
    if item.lead_external_id:
        lead = by_external.get(item.lead_external_id)
        return (lead, lead.contact_id if lead else None, None if lead else "lead_external_id")
    if item.email:
        contact, lead = by_email.get(item.email.strip().lower(), (None, None))
        return (lead, contact.pk if contact else None, None if contact else "email")
    return None, None, "person"


def ingest_events(items: list[EventIn], *, by: User) -> list[EventResult]:
    """Record a batch of events on the leads `by` may see; each item succeeds or fails on its own, and an event
    whose external id was already recorded counts as a duplicate, so a retried batch changes nothing."""
    if len(items) > MAX_BATCH:
        raise InvalidInput.on("events", f"Send at most {MAX_BATCH:,} events at a time.")
    try:
        return _record(items, by)
    except IntegrityError:
        # The same batch, retried, committed first while this one ran: its events are duplicates now.
        return _record(items, by)


@transaction.atomic
def _record(items: list[EventIn], by: User) -> list[EventResult]:
    people = _people(items, leads_visible_to(by))
    known = set(
        Event.objects.filter(external_id__in=[i.external_id for i in items if i.external_id]).values_list(
            "external_id", flat=True
        )
    )
    results: list[EventResult] = []
    fresh: list[tuple[int, Event]] = []
    for index, item in enumerate(items):
        if item.type not in EventType.values:
            results.append(EventResult(index, "error", field="type", message=f"Unknown event type {item.type!r}."))
            continue
        if item.external_id and item.external_id in known:
            results.append(EventResult(index, "duplicate", message="Already recorded."))
            continue
        lead, contact_id, missing = _locate(item, people)
        if missing:
            results.append(EventResult(index, "error", field=missing, message=NOBODY[missing]))
            continue
        if item.external_id:
            known.add(item.external_id)
        event = Event(
            type=item.type,
            occurred_at=item.occurred_at,
            lead=lead,
            contact_id=contact_id,
            properties=item.properties or {},
            source=item.source,
            external_id=item.external_id or None,
        )
        fresh.append((index, event))
    created = store_events([event for _, event in fresh])
    for (index, _), event in zip(fresh, created, strict=True):
        results.append(EventResult(index, "created", id=event.pk))
    results.sort(key=lambda result: result.index)
    return results


def store_events(events: list[Event]) -> list[Event]:
    """Save new events (an ingested batch, or what leadflow saw itself: opens and clicks on its emails), move their
    leads' last activity up and tell the apps built on engagement (scoring, qualification). Inside a transaction."""
    created = Event.objects.bulk_create(events)
    _advance_last_activity(created)
    events_ingested.send(sender=Event, events=created)
    return created


def _advance_last_activity(events: list[Event]) -> None:
    latest: dict[int, datetime] = {}
    for event in events:
        if event.lead_id is not None and (event.lead_id not in latest or event.occurred_at > latest[event.lead_id]):
            latest[event.lead_id] = event.occurred_at
    advance_last_activity(latest)


def advance_last_activity(latest: dict[int, datetime]) -> None:
    """Move each lead's last activity up to the moment given for it, where it is earlier or unset: one statement
    per thousand leads."""
    table = connection.ops.quote_name(Lead._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    moments = [(lead, adapt(at)) for lead, at in sorted(latest.items())]
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(moments), 1000):
            batch = moments[start : start + 1000]
            if connection.features.has_select_for_update:  # lock in id order: concurrent batches queue, not deadlock
                locking = Lead.objects.select_for_update().filter(pk__in=[lead for lead, _ in batch]).order_by("pk")
                list(locking.values_list("pk", flat=True))
            cursor.execute(
                f"WITH latest (id, at) AS (VALUES {', '.join(['(%s, %s)'] * len(batch))}) "
                f"UPDATE {table} SET last_activity_at = latest.at FROM latest WHERE {table}.id = latest.id "
                f"AND ({table}.last_activity_at IS NULL OR {table}.last_activity_at < latest.at)",
                [value for pair in batch for value in pair],
            )
