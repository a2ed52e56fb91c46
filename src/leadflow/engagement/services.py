"""Ingesting engagement events: in batches, idempotent by each event's external id."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from leadflow.accounts.models import Contact
from leadflow.bulk import insert_rows_returning_ids, one_of
from leadflow.errors import InvalidInput
from leadflow.leads.models import Lead
from leadflow.leads.selectors import being_worked, leads_visible_to
from leadflow.outages import deadlocked
from leadflow.users.models import User

from .models import Event, EventType
from .signals import events_ingested

MAX_BATCH = 1000
EVENT_COLUMNS = ["type", "occurred_at", "lead", "contact", "properties", "source", "external_id", "created_at"]
EVENT_TYPES = frozenset(EventType.values)  # `EventType.values` builds a new list at every call
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
    """Resolve every person the batch names in three queries: by id, by email, by external id; each to the pair
    (lead id or None, contact id)."""
    ids = {item.lead_id for item in items if item.lead_id is not None}
    emails = {item.email.strip().lower() for item in items if item.email}
    external = {item.lead_external_id for item in items if item.lead_external_id}
    by_id = {
        lead: (lead, contact) for lead, contact in visible.filter(one_of(Lead, "id", ids)).values_list("pk", "contact")
    }
    by_external = {}
    if external:
        named = visible.filter(external_id__in=external).values_list("external_id", "pk", "contact")
        by_external = {external_id: (lead, contact) for external_id, lead, contact in named}
    by_email: dict[str, tuple[int | None, int]] = {}
    if emails:
        for email, contact in Contact.objects.filter(email__in=emails).values_list("email", "pk"):
            by_email[email or ""] = (None, contact)
        open_leads = being_worked(visible.filter(contact__email__in=emails))
        for email, lead, contact in open_leads.values_list("contact__email", "pk", "contact"):
            by_email[email or ""] = (lead, contact)
    return by_id, by_email, by_external


def _locate(item: EventIn, people: tuple[dict, dict, dict]) -> tuple[int | None, int | None, str | None]:
    """The event's lead id and contact id, or the name of the field that named nobody."""
    by_id, by_email, by_external = people
    if item.lead_id is not None:
        lead, contact = by_id.get(item.lead_id, (None, None))
        return lead, contact, None if lead else "lead_id"
    if item.lead_external_id:
        lead, contact = by_external.get(item.lead_external_id, (None, None))
        return lead, contact, None if lead else "lead_external_id"
    if item.email:
        lead, contact = by_email.get(item.email.strip().lower(), (None, None))
        return lead, contact, None if contact else "email"
    return None, None, "person"


def ingest_events(items: list[EventIn], *, by: User) -> list[EventResult]:
    """Record a batch of events on the leads `by` may see; each item succeeds or fails on its own, and an event
    whose external id was already recorded counts as a duplicate, so a retried batch changes nothing."""
    if len(items) > MAX_BATCH:
        raise InvalidInput.on("events", f"Send at most {MAX_BATCH:,} events at a time.")
    prepared = _prepare(items, by)
    try:
        return _record(items, prepared)
    except IntegrityError:
        # The same batch, retried, committed first while this one ran: its events are duplicates now.
        return _record(items, prepared)
    except OperationalError as exc:
        if not deadlocked(exc):
            raise
        # PostgreSQL undid this batch so a concurrent writer of the same leads' scores (a rescore) could go on.
        return _record(items, prepared)


def _prepare(items: list[EventIn], by: User) -> list[Event | str | None]:
    """Each item's event, ready to store, or the field that names nobody (None for an unknown type). Worked out
    before the write transaction: on SQLite that holds the one write lock, so the less it does the better."""
    people = _people(items, leads_visible_to(by))
    prepared: list[Event | str | None] = []
    for item in items:
        if item.type not in EVENT_TYPES:
            prepared.append(None)
            continue
        lead_id, contact_id, missing = _locate(item, people)
        if missing:
            prepared.append(missing)
            continue
        event = Event(
            type=item.type,
            occurred_at=item.occurred_at,
            lead_id=lead_id,
            contact_id=contact_id,
            properties=item.properties or {},
            source=item.source,
            external_id=item.external_id or None,
        )
        prepared.append(event)
    return prepared


@transaction.atomic
def _record(items: list[EventIn], prepared: list[Event | str | None]) -> list[EventResult]:
    """Store the prepared events whose external ids are new, in one transaction; every item's result."""
    sent = [item.external_id for item in items if item.external_id]
    known = set(Event.objects.filter(one_of(Event, "external_id", sent)).values_list("external_id", flat=True))
    results: list[EventResult] = []
    fresh: list[tuple[int, Event]] = []
    for index, (item, event) in enumerate(zip(items, prepared, strict=True)):
        if item.type not in EVENT_TYPES:
            results.append(EventResult(index, "error", field="type", message=f"Unknown event type {item.type!r}."))
        elif item.external_id and item.external_id in known:
            results.append(EventResult(index, "duplicate", message="Already recorded."))
        elif isinstance(event, str):
            results.append(EventResult(index, "error", field=event, message=NOBODY[event]))
        elif event is not None:  # always, here: None is an unknown type
            if item.external_id:
                known.add(item.external_id)
            fresh.append((index, event))
    created = store_events([event for _, event in fresh])
    for (index, _), event in zip(fresh, created, strict=True):
        results.append(EventResult(index, "created", id=event.pk))
    results.sort(key=lambda result: result.index)
    return results


def store_events(events: list[Event]) -> list[Event]:
    """Save new events (an ingested batch, or what leadflow saw itself: opens and clicks on its emails), move their
    leads' last activity up and tell the apps built on engagement (scoring, qualification). Inside a transaction."""
    now = timezone.now()
    adapt_moment, adapt_json = connection.ops.adapt_datetimefield_value, connection.ops.adapt_json_value
    moments = {now: adapt_moment(now)}  # adapted once each: a batch's events share few moments
    for event in events:
        if event.occurred_at not in moments:
            moments[event.occurred_at] = adapt_moment(event.occurred_at)
    rows = [
        (event.type, moments[event.occurred_at], event.lead_id, event.contact_id,
         adapt_json(event.properties, None), event.source, event.external_id, moments[now])
        for event in events
    ]  # fmt: skip
    ids = insert_rows_returning_ids(Event, EVENT_COLUMNS, rows)
    for event, pk in zip(events, ids, strict=True):
        event.pk, event.created_at = pk, now
        event._state.adding = False
    _advance_last_activity(events)
    events_ingested.send(sender=Event, events=events)
    return events


def _advance_last_activity(events: list[Event]) -> None:
    latest: dict[int, datetime] = {}
    for event in events:
        if event.lead_id is not None and (event.lead_id not in latest or event.occurred_at > latest[event.lead_id]):
            latest[event.lead_id] = event.occurred_at
    advance_last_activity(latest)


def advance_last_activity(latest: dict[int, datetime]) -> None:
    """Move each lead's last activity up to the moment given for it, where it is earlier or unset: one statement
    per thousand leads (on PostgreSQL, given as an array of ids and one of moments: short SQL, which psycopg parses
    once, where the placeholders of a thousand pairs took it milliseconds to find at every batch)."""
    table = connection.ops.quote_name(Lead._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    moments = [(lead, adapt(at)) for lead, at in sorted(latest.items())]
    update = (
        f"UPDATE {table} SET last_activity_at = latest.at FROM latest WHERE {table}.id = latest.id "
        f"AND ({table}.last_activity_at IS NULL OR {table}.last_activity_at < latest.at)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(moments), 1000):
            batch = moments[start : start + 1000]
            ids = [lead for lead, _ in batch]
            if connection.features.has_select_for_update:  # lock in id order: concurrent batches queue, not deadlock
                locking = Lead.objects.select_for_update().filter(one_of(Lead, "id", ids)).order_by("pk")
                list(locking.values_list("pk", flat=True))
            if connection.vendor == "postgresql":
                rows = "SELECT * FROM UNNEST(%s::bigint[], %s::timestamptz[])"
                values: list[Any] = [ids, [at for _, at in batch]]
            else:
                rows = f"VALUES {', '.join(['(%s, %s)'] * len(batch))}"
                values = [value for pair in batch for value in pair]
            cursor.execute(f"WITH latest (id, at) AS ({rows}) {update}", values)
