"""Sending queued emails: a batch reserved per worker, each email claimed one at a time, quiet hours and throttles
respected, each outcome committed with the next claim."""

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection
from django.db.models import Count, QuerySet
from django.utils import timezone

from leadflow.bulk import database_datetime, no_cycle_collection
from leadflow.consent.selectors import has_given_consent
from leadflow.prepared import Pending, send_prepared

from ..emails import MERGE_COLUMNS, render_email
from ..mime import NurtureEmail
from ..models import (
    Delivery,
    DeliveryStatus,
    NurtureSettings,
    Step,
    Suppression,
)
from ..selectors import nurture_settings

logger = logging.getLogger(__name__)


LEASE = timedelta(minutes=10)  # a delivery left `sending` this long by a worker that died is sent again
RESERVED = 0x6E757274  # the advisory-lock namespace of the deliveries a worker has picked for its batch
RESERVATION = f"{RESERVED}, mod(id, 2147483647)::int"  # a delivery's advisory-lock key: namespace, id in an int


def _zone(name: str) -> ZoneInfo:
    """The named time zone; UTC for a name that is not one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# --- the engine: sending ------------------------------------------------------------------------------------------


def _quiet_until(zone: ZoneInfo, quiet: NurtureSettings, at: datetime) -> datetime | None:
    """When quiet hours end in this time zone, if `at` is inside them."""
    local = at.astimezone(zone)
    start, end = quiet.quiet_from, quiet.quiet_until
    inside = start <= local.hour or local.hour < end if start > end else start <= local.hour < end
    if not inside or start == end:
        return None
    wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
    return wake if wake > local else wake + timedelta(days=1)


@dataclass(slots=True)
class QueuedEmail:
    """What sending one queued email needs, read for a whole batch in one query as plain values (model instances
    of a delivery, its lead, contact, account and owner cost more than rendering the email)."""

    pk: int
    step_id: int
    to_email: str
    domain: str
    variant: str
    time_zone: str
    opted_in: bool  # a given consent in the ledger, or the opt-in flag imported people carry
    do_not_contact: bool
    fields: dict[str, Any]  # the lead's MERGE_COLUMNS

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "pk", "step", "to_email", "domain", "variant", "lead__contact__time_zone", "lead__contact__email_opt_in",
        "has_consent", "lead__contact__do_not_contact", *(f"lead__{column}" for column in MERGE_COLUMNS),
    )  # fmt: skip

    @classmethod
    def batch(cls, deliveries: QuerySet[Delivery]) -> list["QueuedEmail"]:
        return [
            cls(
                pk,
                step,
                to,
                domain,
                variant,
                zone,
                opted_in or consented,
                unreachable,
                dict(zip(MERGE_COLUMNS, merge, strict=True)),
            )
            for pk, step, to, domain, variant, zone, opted_in, consented, unreachable, *merge in deliveries.annotate(
                has_consent=has_given_consent("lead__contact")
            ).values_list(*cls.COLUMNS)
        ]


def _message(email: QueuedEmail, step: Step, sender: str) -> NurtureEmail:
    template = step.variant_template if email.variant == "B" and step.variant_template else step.template
    assert template is not None
    rendered = render_email(template.subject, template.body, email.fields, delivery_id=email.pk)
    message = NurtureEmail(
        rendered.subject,
        rendered.text,
        sender,
        [email.to_email],
        headers={**rendered.headers, "Message-ID": f"<nurture-{email.pk}@leadflow>"},
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def requeue_abandoned(*, at: datetime | None = None) -> int:
    """Deliveries a worker began sending and never finished (it died) go back to the queue after LEASE."""
    at = at or timezone.now()
    return Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=at - LEASE).update(
        status=DeliveryStatus.QUEUED, note="Sent again: the worker sending it stopped"
    )


def _skip_reason(email: QueuedEmail, suppressed: dict[str, str]) -> str:
    if not email.to_email:
        return "no email address"
    if email.to_email in suppressed:
        return f"suppressed: {suppressed[email.to_email]}"
    if not email.opted_in or email.do_not_contact:
        return "no consent to marketing email"
    return ""


def _postponed(
    email: QueuedEmail,
    quiet: NurtureSettings,
    quiet_ends: dict[str, datetime | None],
    to_domain: int,
    total: int,
    at: datetime,
) -> tuple[datetime, str] | None:
    """When an email that may not go now goes instead, and why: quiet hours in the recipient's time zone (worked out
    once per zone in `quiet_ends`; "" is the settings' zone), or the per-domain or per-hour throttle (`to_domain` and
    `total` sent in the last hour)."""
    zone = email.time_zone or ""
    if zone not in quiet_ends:
        quiet_ends[zone] = _quiet_until(_zone(zone), quiet, at)
    wake = quiet_ends[zone]
    if wake is not None:
        return wake, "Quiet hours"
    if to_domain >= quiet.per_domain_per_hour or total >= quiet.per_hour:
        return at + timedelta(minutes=10), "Throttled"
    return None


# What became of one email, waiting for the next commit: (outcome, delivery id, status before, after, columns).
Outcome = tuple[str, int, str, str, dict[str, Any]]


def _database_value(value: Any) -> Any:
    return database_datetime(value) if isinstance(value, datetime) else value


def _moved(moves: list[Outcome]) -> Pending:
    """Move these deliveries each from one status to another (with other columns) in one UPDATE statement, so a
    worker's email costs one round trip and one commit (in autocommit a statement is its own transaction; in a
    caller's, part of it). A delivery no longer in its status before is left as it is. The statement is sent; its
    rows are the ids moved."""
    quote = connection.ops.quote_name
    cases, params = [], []
    for name in ("status", *sorted({column for *_, columns in moves for column in columns})):
        values = [(pk, after if name == "status" else columns[name]) for _, pk, _, after, columns in moves
                  if name == "status" or name in columns]  # fmt: skip
        whens = " ".join(["WHEN %s THEN %s"] * len(values))
        cases.append(f"{quote(name)} = CASE id {whens} ELSE {quote(name)} END")
        params += [part for pk, value in values for part in (pk, _database_value(value))]
    ids = ", ".join(["%s"] * len(moves))
    befores = " ".join(["WHEN %s THEN %s"] * len(moves))
    params += [pk for _, pk, *_ in moves] + [part for _, pk, before, _, _ in moves for part in (pk, before)]
    table = quote(Delivery._meta.db_table)
    update = (
        f"UPDATE {table} SET {', '.join(cases)} WHERE id IN ({ids}) AND status = CASE id {befores} END RETURNING id"
    )
    return send_prepared(update, params)  # prepared: most emails' statements are alike


def _settle(outcomes: list[Outcome], counts: Counter, claim: Outcome | None = None) -> Callable[[], bool]:
    """Send the outcomes decided since the last commit, with the next email's claim if any: one statement. Returns
    what reads its answer (the caller may work meanwhile): it counts the outcomes (a move that finds its delivery
    no longer where it was, because another worker claimed it first, counts as taken) and says whether the claim
    was made."""
    moves = [*outcomes, claim] if claim else outcomes
    pending = _moved(moves) if moves else None
    settled = list(outcomes)
    outcomes.clear()

    def answer() -> bool:
        moved = {row[0] for row in pending.rows()} if pending else set()
        for label, delivery_id, *_ in settled:
            counts[label if delivery_id in moved else "taken"] += 1
        return claim is not None and claim[1] in moved

    return answer


def _failed(email: QueuedEmail, problem: Exception) -> Outcome:
    """A claimed email that could not be sent (a refused recipient, a template that fails): this email only."""
    logger.warning("delivery %s failed: %s", email.pk, problem)
    note = f"{type(problem).__name__}: {problem}"[:300]
    return ("failed", email.pk, DeliveryStatus.SENDING, DeliveryStatus.FAILED, {"note": note})


def _reserved(due: QuerySet[Delivery], limit: int) -> tuple[QuerySet[Delivery], list[int]]:
    """Up to `limit` of the due deliveries, and on PostgreSQL the ids this worker reserved among them: those no
    other worker holds a session advisory lock on, locked for this one. Two workers then send different emails
    instead of racing, email by email, for the same ones in the same order. A reservation is only a hint (the claim
    decides who sends); it ends with `_release`, or with the connection of a worker that dies."""
    if connection.vendor != "postgresql":
        return due[:limit], []
    window, params = due.values("id")[: limit * 8].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM ({window}) AS due WHERE pg_try_advisory_lock({RESERVATION}) LIMIT %s",
            [*params, limit],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return due.filter(pk__in=ids), ids


def _release(reserved: list[int]) -> None:
    if reserved:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT pg_advisory_unlock({RESERVATION}) FROM unnest(%s::bigint[]) AS id",
                [reserved],
            )


def send_queued(*, at: datetime | None = None, limit: int = 500) -> Counter:
    """Send up to `limit` queued emails that are due, one at a time: each is claimed and committed as `sending`
    before the mail server is called, and its outcome is committed with the next one's claim (one commit per email),
    so a second worker never sends it too and a worker killed between two emails resumes without sending any twice.
    Suppressed, unconsented and addressless recipients are skipped with the reason; quiet hours and throttles
    postpone. Returns counts by outcome (sent, suppressed, postponed, failed, taken, waiting)."""
    at = at or timezone.now()
    quiet, outcome = nurture_settings(), Counter[str]()
    due = Delivery.objects.filter(status=DeliveryStatus.QUEUED, not_before__lte=at).order_by("not_before", "id")
    picked, reserved = _reserved(due, limit)
    try:
        return _send(QueuedEmail.batch(picked), quiet, at, outcome)
    finally:
        _release(reserved)


def _send(batch: list[QueuedEmail], quiet: NurtureSettings, at: datetime, outcome: Counter) -> Counter:
    if not batch:
        return outcome
    steps = Step.objects.select_related("template", "variant_template").in_bulk({e.step_id for e in batch})
    suppressed = dict(Suppression.objects.filter(email__in={e.to_email for e in batch}).values_list("email", "reason"))
    last_hour = Delivery.objects.filter(sent_at__gte=at - timedelta(hours=1))  # what the throttles count
    total = last_hour.count()
    to_domains = last_hour.filter(domain__in={e.domain for e in batch}).values_list("domain").annotate(n=Count("pk"))
    per_domain = Counter(dict(to_domains.values_list("domain", "n")))
    sender = quiet.from_email or settings.DEFAULT_FROM_EMAIL
    quiet_ends = {"": _quiet_until(_zone(quiet.time_zone), quiet, at)}  # by time zone, for this batch's moment
    crash_after = int(os.environ.get("LEADFLOW_NURTURE_CRASH_AFTER", "0"))  # fault injection for the crash test
    mail = get_connection()
    try:
        mail.open()
    except OSError as exc:  # the mail server is away: everything waits for the next round, nothing is claimed
        logger.warning("cannot reach the mail server (%s); %d emails wait", exc, len(batch))
        outcome["waiting"] += len(batch)
        return outcome
    queued, sending = DeliveryStatus.QUEUED, DeliveryStatus.SENDING
    decided: list[Outcome] = []
    sent = 0
    with no_cycle_collection():
        try:
            for email in batch:
                skip = _skip_reason(email, suppressed)
                if skip:
                    decided.append(("suppressed", email.pk, queued, DeliveryStatus.SUPPRESSED, {"note": skip}))
                    continue
                later = _postponed(email, quiet, quiet_ends, per_domain[email.domain], total, at)
                if later:
                    until, note = later
                    decided.append(("postponed", email.pk, queued, queued, {"not_before": until, "note": note}))
                    continue
                if crash_after and sent >= crash_after:
                    _settle(decided, outcome)()
                    os._exit(3)  # killed between two emails, after the last one's outcome was committed
                claim = ("claimed", email.pk, queued, sending, {"claimed_at": at})
                answer = _settle(decided, outcome, claim)  # the previous emails' outcomes, this one's claim
                try:  # rendered while the database commits the claim; sent only once it is made
                    message: NurtureEmail | Exception = _message(email, steps[email.step_id], sender)
                except Exception as exc:
                    message = exc
                finally:
                    claimed = answer()
                if not claimed:
                    outcome["taken"] += 1  # another worker claimed it
                    continue
                if isinstance(message, Exception):
                    decided.append(_failed(email, message))
                    continue
                try:
                    mail.send_messages([message])
                except Exception as exc:
                    decided.append(_failed(email, exc))
                    continue
                decided.append(("sent", email.pk, sending, DeliveryStatus.SENT, {"sent_at": at}))
                per_domain[email.domain] += 1
                total += 1
                sent += 1
        finally:
            _settle(decided, outcome)()
            mail.close()
    return outcome
