"""Writes for nurture: segments, templates and sequences (marketing and admins), enrolment, the engine that runs
due steps and sends their emails, tracking (opens, clicks, unsubscribes, replies, bounces) and A/B decisions."""

import logging
import os
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from leadflow.accounts.models import Contact
from leadflow.bulk import database_datetime, insert_rows, no_cycle_collection, update_rows
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import store_events
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.selectors import people_to_tell
from leadflow.leads.services import record_lifecycle_change
from leadflow.pipeline.models import Activity, ActivityKind
from leadflow.users.models import User
from leadflow.users.services import notify

from .abtest import decide
from .emails import MERGE_COLUMNS, check_template, render_email
from .models import (
    Delivery,
    DeliveryStatus,
    EmailTemplate,
    Enrolment,
    EnrolmentStatus,
    ExitWhen,
    NurtureSettings,
    Segment,
    Sequence,
    Step,
    StepKind,
    Suppression,
    SuppressionReason,
)
from .segments import clean_conditions
from .selectors import branch_holds, leads_in_segment, nurture_settings

logger = logging.getLogger(__name__)
MAX_STEPS_PER_RUN = 50  # steps one enrolment may take in one pass (a loop of branches cannot spin for ever)
LEASE = timedelta(minutes=10)  # a delivery left `sending` this long by a worker that died is sent again
# A queued delivery as run_due_steps writes it (a unique enrolment and step: SKIP LOCKED keeps workers apart).
DELIVERY_COLUMNS = ["enrolment", "step", "lead", "to_email", "domain", "variant", "status", "not_before", "created_at"]
# What the engine reads of an enrolment as it runs steps (a step that needs more of its lead loads it then).
ENROLMENT_COLUMNS = [
    "sequence", "lead", "status", "position", "due_at", "entered_at", "finished_at", "exit_reason",
    "lead__lifecycle_stage", "lead__source", "lead__authority", "lead__owner", "lead__contact__email",
    "lead__contact__time_zone",
]  # fmt: skip
UPDATABLE_FIELDS = {"need": str, "budget_confirmed": bool, "utm_campaign": str, "source_detail": str}


def can_nurture(user: User) -> bool:
    """Nurture campaigns are marketing's (and the admins')."""
    return user.is_admin or user.is_marketing


def ensure_can_nurture(user: User) -> None:
    if not can_nurture(user):
        raise NotAllowed("Only marketing and admins may change nurture campaigns.")


# --- segments and templates ---------------------------------------------------------------------------------------


def _named(value: Any, field: str = "name") -> str:
    text = (value or "").strip() if isinstance(value, str | None) else ""
    if not text:
        raise InvalidInput.on(field, "This field is required.")
    return text


def _name(fields: dict[str, Any], row: Segment | EmailTemplate | Sequence) -> None:
    """Set the row's name from `fields` (required when new, unique among its kind)."""
    if "name" in fields or row.pk is None:
        row.name = _named(fields.get("name"))
        if type(row).objects.exclude(pk=row.pk).filter(name=row.name).exists():
            raise Conflict(
                f"Another {type(row)._meta.verbose_name} has that name.", errors={"name": ["Already in use."]}
            )


@transaction.atomic
def save_segment(segment: Segment | None, *, by: User, **fields: Any) -> Segment:
    """Create or change a segment (name, description, match, conditions)."""
    ensure_can_nurture(by)
    segment = segment or Segment(created_by=by)
    unknown = set(fields) - {"name", "description", "match", "conditions"}
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    _name(fields, segment)
    segment.description = fields.get("description", segment.description) or ""
    if "match" in fields:
        if fields["match"] not in ("all", "any"):
            raise InvalidInput.on("match", "Must be all or any.")
        segment.match = fields["match"]
    if "conditions" in fields:
        segment.conditions = clean_conditions(fields["conditions"])
    segment.save()
    return segment


def delete_segment(segment: Segment, *, by: User) -> None:
    ensure_can_nurture(by)
    segment.delete()


@transaction.atomic
def save_template(template: EmailTemplate | None, *, by: User, **fields: Any) -> EmailTemplate:
    """Create or change an email template; one that does not compile, or uses a tag emails may not, is refused."""
    ensure_can_nurture(by)
    template = template or EmailTemplate()
    unknown = set(fields) - {"name", "subject", "body"}
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    _name(fields, template)
    if "subject" in fields or template.pk is None:
        template.subject = check_template(_named(fields.get("subject"), "subject"), "subject")
    if "body" in fields or template.pk is None:
        template.body = check_template(_named(fields.get("body"), "body"), "body")
    template.save()
    return template


def delete_template(template: EmailTemplate, *, by: User) -> None:
    """Delete a template no step sends."""
    ensure_can_nurture(by)
    used = Step.objects.filter(Q(template=template) | Q(variant_template=template)).select_related("sequence").first()
    if used is not None:
        raise Conflict(f"The template is sent by {used}; remove that step first.", errors={"template": ["In use."]})
    template.delete()


# --- sequences and steps ------------------------------------------------------------------------------------------


@transaction.atomic
def save_sequence(sequence: Sequence | None, *, by: User, **fields: Any) -> Sequence:
    """Create or change a sequence: name, segment (its continuous audience), exit_when, allow_reentry,
    reentry_after_days, is_active (a sequence starts only with at least one step)."""
    ensure_can_nurture(by)
    sequence = sequence or Sequence(created_by=by)
    unknown = set(fields) - {"name", "segment", "exit_when", "allow_reentry", "reentry_after_days", "is_active"}
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    _name(fields, sequence)
    if "segment" in fields:
        sequence.segment = fields["segment"]
    if "exit_when" in fields:
        exits = fields["exit_when"] or []
        if not isinstance(exits, list) or any(item not in ExitWhen.values for item in exits):
            raise InvalidInput.on("exit_when", f"Each must be one of: {', '.join(ExitWhen.values)}.")
        sequence.exit_when = sorted(set(exits))
    if "allow_reentry" in fields:
        sequence.allow_reentry = bool(fields["allow_reentry"])
    if "reentry_after_days" in fields:
        days = fields["reentry_after_days"]
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
            raise InvalidInput.on("reentry_after_days", "Must be a whole number of days.")
        sequence.reentry_after_days = days
    if "is_active" in fields:
        if fields["is_active"] and (sequence.pk is None or not sequence.steps.exists()):
            raise InvalidInput.on("is_active", "Add a step before starting the sequence.")
        sequence.is_active = bool(fields["is_active"])
    sequence.save()
    return sequence


def _clean_step(step: Step) -> None:
    config, kind = step.config or {}, step.kind
    if kind not in StepKind.values:
        raise InvalidInput.on("kind", f"Must be one of: {', '.join(StepKind.values)}.")
    if not isinstance(config, dict):
        raise InvalidInput.on("config", "Must be an object.")
    if kind == StepKind.EMAIL:
        if step.template is None:
            raise InvalidInput.on("template_id", "An email step sends a template.")
        if step.variant_template is not None and step.variant_template == step.template:
            raise InvalidInput.on("variant_template_id", "The B variant must be another template.")
    elif step.template is not None or step.variant_template is not None:
        raise InvalidInput.on("template_id", "Only an email step sends a template.")
    if kind == StepKind.WAIT:
        if "weekday" in config:
            if config["weekday"] not in range(7) or config.get("hour", 9) not in range(24):
                raise InvalidInput.on("config.weekday", "Give a weekday 0–6 (Monday = 0) and an hour 0–23.")
        elif not any(isinstance(config.get(unit), int | float) and config[unit] > 0 for unit in ("days", "hours")):
            raise InvalidInput.on("config.days", "Wait some days or hours, or until a weekday and hour.")
    elif kind == StepKind.BRANCH:
        condition = config.get("if")
        if not isinstance(condition, dict) or condition.get("kind") not in (
            "opened", "clicked", "visited", "score_above", "field_equals",
        ):  # fmt: skip
            raise InvalidInput.on("config.if", "Branch on opened, clicked, visited, score_above or field_equals.")
        if not isinstance(config.get("else_go_to"), int) or config["else_go_to"] < 1:
            raise InvalidInput.on("config.else_go_to", "Give the step position to go to otherwise.")
    elif kind == StepKind.UPDATE_FIELD:
        kind_of = UPDATABLE_FIELDS.get(config.get("field", ""))
        if kind_of is None:
            raise InvalidInput.on("config.field", f"Must be one of: {', '.join(UPDATABLE_FIELDS)}.")
        if not isinstance(config.get("value"), kind_of):
            raise InvalidInput.on("config.value", f"Must be a {kind_of.__name__}.")
    elif kind == StepKind.SET_STAGE:
        if config.get("stage") not in (LifecycleStage.PROSPECT, LifecycleStage.RECYCLED, LifecycleStage.LEAD):
            raise InvalidInput.on("config.stage", "Must be lead, prospect or recycled.")
    elif kind == StepKind.CREATE_TASK:
        if not str(config.get("subject", "")).strip():
            raise InvalidInput.on("config.subject", "This field is required.")
    elif kind == StepKind.NOTIFY and not str(config.get("text", "")).strip():
        raise InvalidInput.on("config.text", "This field is required.")


@transaction.atomic
def add_step(sequence: Sequence, *, by: User, kind: str, config: dict | None = None, **fields: Any) -> Step:
    """Append a step (template, variant_template, test_metric, test_deadline for email steps)."""
    ensure_can_nurture(by)
    unknown = set(fields) - {"template", "variant_template", "test_metric", "test_deadline"}
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    last = sequence.steps.order_by("-position").values_list("position", flat=True).first() or 0
    step = Step(sequence=sequence, position=last + 1, kind=kind, config=config or {}, **fields)
    if step.test_metric not in ("open", "click", "reply"):
        raise InvalidInput.on("test_metric", "Must be open, click or reply.")
    _clean_step(step)
    step.save()
    return step


def delete_step(step: Step, *, by: User) -> None:
    """Remove a step; later steps move up one place (an enrolment waiting past it moves with them)."""
    ensure_can_nurture(by)
    with transaction.atomic():
        sequence, position = step.sequence, step.position
        if step.deliveries.exists():
            raise Conflict("This step has sent emails; stop the sequence and make a new one instead.")
        step.delete()
        for later in sequence.steps.filter(position__gt=position).order_by("position"):
            Step.objects.filter(pk=later.pk).update(position=later.position - 1)
        sequence.enrolments.filter(status=EnrolmentStatus.ACTIVE, position__gt=position).update(
            position=F("position") - 1
        )


# --- enrolment ----------------------------------------------------------------------------------------------------


def _may_enter(sequence: Sequence, lead_ids: Iterable[int], at: datetime) -> list[int]:
    """Of these leads, those the sequence's re-entry rule lets in now (none already active in it)."""
    ids = set(lead_ids)
    past = Enrolment.objects.filter(sequence=sequence, lead__in=ids)
    active = set(past.filter(status=EnrolmentStatus.ACTIVE).values_list("lead", flat=True))
    if not sequence.allow_reentry:
        barred = set(past.values_list("lead", flat=True))
    else:
        since = at - timedelta(days=sequence.reentry_after_days or 0)
        barred = active | set(past.filter(finished_at__gt=since).values_list("lead", flat=True))
    return sorted(ids - barred - active)


def enrol(sequence: Sequence, lead_ids: Iterable[int], *, by: User | None, at: datetime) -> int:
    """Enrol those of the leads the re-entry rule lets in, due at once (`by`: who asked, None for the segment);
    callers check who may. Returns how many."""
    entering = _may_enter(sequence, lead_ids, at)
    rows = [Enrolment(sequence=sequence, lead_id=lead, enrolled_by=by, entered_at=at, due_at=at) for lead in entering]
    Enrolment.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


@transaction.atomic
def enrol_leads(sequence: Sequence, leads: Iterable[Lead], *, by: User) -> int:
    """Enrol leads by hand; those the re-entry rule keeps out (or already in it) are skipped. Returns how many."""
    ensure_can_nurture(by)
    if not sequence.is_active:
        raise Conflict("Start the sequence before enrolling leads.", errors={"sequence": ["Not active."]})
    return enrol(sequence, [lead.pk for lead in leads], by=by, at=timezone.now())


def enrol_from_segments(*, at: datetime | None = None) -> int:
    """The worker's chore: enrol into each active sequence the open leads of its segment that may enter it."""
    at = at or timezone.now()
    enrolled = 0
    for sequence in Sequence.objects.filter(is_active=True, segment__isnull=False).select_related("segment"):
        assert sequence.segment is not None
        candidates = leads_in_segment(sequence.segment, at=at).exclude(
            enrolments__sequence=sequence, enrolments__status=EnrolmentStatus.ACTIVE
        )
        ids = list(candidates.values_list("pk", flat=True)[:10000])
        with transaction.atomic():
            enrolled += enrol(sequence, ids, by=None, at=at)
    return enrolled


# --- the engine: running due steps --------------------------------------------------------------------------------


def _with_exit_facts(due: QuerySet[Enrolment]) -> QuerySet[Enrolment]:
    """The enrolments with what their exit checks need, looked up by the database row by row through indexes
    (four queries over the batch's thousand ids cost 30 us an enrolment, most of it in building them)."""
    suppressed = Suppression.objects.filter(email=OuterRef("lead__contact__email"))
    return due.annotate(
        has_replied=Exists(Delivery.objects.filter(lead=OuterRef("lead"), replied_at__isnull=False)),
        has_unsubscribed=Exists(suppressed.filter(reason=SuppressionReason.UNSUBSCRIBED)),
        has_bounced=Exists(suppressed.exclude(reason=SuppressionReason.UNSUBSCRIBED)),
        entered_another=Exists(
            Enrolment.objects.filter(
                lead=OuterRef("lead"), status=EnrolmentStatus.ACTIVE, entered_at__gt=OuterRef("entered_at")
            ).exclude(sequence=OuterRef("sequence"))
        ),
    )


def _exit_reason(enrolment: Enrolment) -> str:
    """Why the enrolment leaves its sequence now (by the sequence's exit criteria), or "" (see _with_exit_facts)."""
    lead, exits = enrolment.lead, enrolment.sequence.exit_when
    if ExitWhen.OPPORTUNITY in exits and lead.lifecycle_stage in (LifecycleStage.OPPORTUNITY, LifecycleStage.CUSTOMER):
        return "Became an opportunity"
    if ExitWhen.REPLIED in exits and enrolment.has_replied:  # type: ignore[attr-defined]
        return "Replied"
    if ExitWhen.UNSUBSCRIBED in exits and enrolment.has_unsubscribed:  # type: ignore[attr-defined]
        return "Unsubscribed"
    if ExitWhen.BOUNCED in exits and enrolment.has_bounced:  # type: ignore[attr-defined]
        return "Bounced or complained"
    if ExitWhen.OTHER_SEQUENCE in exits and enrolment.entered_another:  # type: ignore[attr-defined]
        return "Entered another sequence"
    return ""


def _zone(name: str) -> ZoneInfo:
    """The named time zone; UTC for a name that is not one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def wait_until(step: Step, contact: Contact, at: datetime) -> datetime:
    """When a wait step that starts at `at` ends: after its days and hours, or at the next given weekday and hour
    in the contact's time zone."""
    config = step.config
    if "weekday" in config:
        local = at.astimezone(_zone(contact.time_zone or nurture_settings().time_zone))
        candidate = local.replace(hour=config.get("hour", 9), minute=0, second=0, microsecond=0)
        candidate += timedelta(days=(config["weekday"] - local.weekday()) % 7)
        if candidate <= local:
            candidate += timedelta(days=7)
        return candidate
    return at + timedelta(days=config.get("days", 0), hours=config.get("hours", 0))


def _variant(step: Step, enrolment: Enrolment) -> str:
    """A or B for an email step: the winner once decided, else an even random split (seeded by the enrolment, so a
    re-run picks the same)."""
    if step.variant_template is None:
        return "A"
    if step.winner:
        return step.winner
    return random.Random(f"{step.pk}:{enrolment.pk}").choice("AB")


def _do(step: Step, enrolment: Enrolment, at: datetime, deliveries: list[tuple]) -> int | None:
    """Run one step; returns the next position, or None when the enrolment must wait (its due time is set)."""
    lead, config = enrolment.lead, step.config
    if step.kind == StepKind.EMAIL:
        email, moment = lead.contact.email or "", database_datetime(at)
        deliveries.append(
            (enrolment.pk, step.pk, lead.pk, email, email.rpartition("@")[2], _variant(step, enrolment),
             DeliveryStatus.QUEUED, moment, moment)
        )  # fmt: skip
    elif step.kind == StepKind.WAIT:
        enrolment.due_at = wait_until(step, lead.contact, at)
        return None
    elif step.kind == StepKind.BRANCH:
        if not branch_holds(config["if"], enrolment, at):
            return int(config["else_go_to"])
    elif step.kind == StepKind.UPDATE_FIELD:
        Lead.objects.filter(pk=lead.pk).update(**{config["field"]: config["value"], "updated_at": at})
    elif step.kind == StepKind.SET_STAGE:
        if is_allowed(lead.lifecycle_stage, config["stage"]):
            reason = config.get("reason") or f"Nurture: {enrolment.sequence.name}"
            record_lifecycle_change(lead, to=config["stage"], by=None, reason=reason, at=at)
    elif step.kind == StepKind.CREATE_TASK:
        Activity.objects.create(
            kind=ActivityKind.TASK, subject=str(config["subject"]).strip()[:200], owner_id=lead.owner_id, lead=lead,
            due_at=at + timedelta(days=config.get("due_days", 1)), created_at=at,
        )  # fmt: skip
    elif step.kind == StepKind.NOTIFY:
        notify(people_to_tell(lead), f"{lead.contact}: {config['text']} ({enrolment.sequence.name})")
    return step.position + 1


def run_due_steps(*, at: datetime | None = None, limit: int = 1000) -> int:
    """Claim up to `limit` enrolments that are due (SKIP LOCKED on PostgreSQL, so workers share them) and run each
    one's steps until it waits, finishes or exits; email steps queue one delivery each (never two: one per
    enrolment and step). One transaction. Returns the number of steps run."""
    at = at or timezone.now()
    ran = 0
    with transaction.atomic(), no_cycle_collection():
        due = Enrolment.objects.filter(status=EnrolmentStatus.ACTIVE, due_at__lte=at).order_by("due_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        enrolments = list(_with_exit_facts(due).select_related("lead__contact").only(*ENROLMENT_COLUMNS)[:limit])
        if not enrolments:
            return 0
        sequences = Sequence.objects.in_bulk({e.sequence_id for e in enrolments})
        for enrolment in enrolments:
            enrolment.sequence = sequences[enrolment.sequence_id]
        steps: dict[int, dict[int, Step]] = defaultdict(dict)
        for step in Step.objects.filter(sequence__in={e.sequence_id for e in enrolments}).select_related(
            "template", "variant_template"
        ):
            steps[step.sequence_id][step.position] = step
        deliveries: list[tuple] = []
        for enrolment in enrolments:
            ran += _advance(enrolment, steps[enrolment.sequence_id], at, deliveries)
        insert_rows(Delivery, DELIVERY_COLUMNS, deliveries)
        columns = ["status", "position", "due_at", "finished_at", "exit_reason"]
        update_rows(Enrolment, columns, (
            (e.status, e.position, database_datetime(e.due_at), e.finished_at and database_datetime(e.finished_at),
             e.exit_reason, e.pk)
            for e in enrolments
        ))  # fmt: skip
    return ran


def _advance(enrolment: Enrolment, steps: dict[int, Step], at: datetime, deliveries: list[tuple]) -> int:
    reason = _exit_reason(enrolment)
    if reason:
        enrolment.status, enrolment.finished_at, enrolment.exit_reason = EnrolmentStatus.EXITED, at, reason
        return 0
    for ran in range(MAX_STEPS_PER_RUN):
        step = steps.get(enrolment.position)
        if step is None:
            enrolment.status, enrolment.finished_at = EnrolmentStatus.COMPLETED, at
            return ran
        following = _do(step, enrolment, at, deliveries)
        if following is None:
            enrolment.position += 1
            return ran + 1
        enrolment.position = following
    enrolment.due_at = at + timedelta(hours=1)  # a loop of branches: carry on later
    return MAX_STEPS_PER_RUN


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
    opted_in: bool
    do_not_contact: bool
    fields: dict[str, Any]  # the lead's MERGE_COLUMNS

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "pk", "step", "to_email", "domain", "variant", "lead__contact__time_zone", "lead__contact__email_opt_in",
        "lead__contact__do_not_contact", *(f"lead__{column}" for column in MERGE_COLUMNS),
    )  # fmt: skip

    @classmethod
    def batch(cls, deliveries: QuerySet[Delivery]) -> list["QueuedEmail"]:
        return [
            cls(
                pk, step, to, domain, variant, zone, opted_in, unreachable, dict(zip(MERGE_COLUMNS, merge, strict=True))
            )
            for pk, step, to, domain, variant, zone, opted_in, unreachable, *merge in deliveries.values_list(
                *cls.COLUMNS
            )
        ]


def _message(email: QueuedEmail, step: Step, sender: str) -> EmailMultiAlternatives:
    template = step.variant_template if email.variant == "B" and step.variant_template else step.template
    assert template is not None
    rendered = render_email(template.subject, template.body, email.fields, delivery_id=email.pk)
    message = EmailMultiAlternatives(
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


def _moved(cursor: Any, moves: list[Outcome]) -> set[int]:
    """Move these deliveries each from one status to another (with other columns) in one UPDATE statement, so a
    worker's email costs one round trip and one commit (in autocommit a statement is its own transaction; in a
    caller's, part of it). A delivery no longer in its status before is left as it is. Returns the ids moved."""
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
    cursor.execute(
        f"UPDATE {table} SET {', '.join(cases)} WHERE id IN ({ids}) AND status = CASE id {befores} END RETURNING id",
        params,
    )
    return {row[0] for row in cursor.fetchall()}


def _settle(cursor: Any, outcomes: list[Outcome], counts: Counter, claim: Outcome | None = None) -> bool:
    """Write the outcomes decided since the last commit, and count them, with the next email's claim if any: one
    statement. A move that finds its delivery no longer where it was (another worker claimed it first) counts as
    taken. Returns whether the claim was made."""
    moves = [*outcomes, claim] if claim else outcomes
    moved = _moved(cursor, moves) if moves else set()
    for label, delivery_id, *_ in outcomes:
        counts[label if delivery_id in moved else "taken"] += 1
    outcomes.clear()
    return claim is not None and claim[1] in moved


def send_queued(*, at: datetime | None = None, limit: int = 500) -> Counter:
    """Send up to `limit` queued emails that are due, one at a time: each is claimed and committed as `sending`
    before the mail server is called, and its outcome is committed with the next one's claim (one commit per email),
    so a second worker never sends it too and a worker killed between two emails resumes without sending any twice.
    Suppressed, unconsented and addressless recipients are skipped with the reason; quiet hours and throttles
    postpone. Returns counts by outcome (sent, suppressed, postponed, failed, taken, waiting)."""
    at = at or timezone.now()
    quiet, outcome = nurture_settings(), Counter[str]()
    due = Delivery.objects.filter(status=DeliveryStatus.QUEUED, not_before__lte=at).order_by("not_before", "id")
    batch = QueuedEmail.batch(due[:limit])
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
    with connection.cursor() as cursor, no_cycle_collection():
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
                    _settle(cursor, decided, outcome)
                    os._exit(3)  # killed between two emails, after the last one's outcome was committed
                claim = ("claimed", email.pk, queued, sending, {"claimed_at": at})
                if not _settle(cursor, decided, outcome, claim):  # the previous emails' outcomes, this one's claim
                    outcome["taken"] += 1  # another worker claimed it
                    continue
                try:
                    mail.send_messages([_message(email, steps[email.step_id], sender)])
                except Exception as exc:  # a refused recipient or a template that fails: this email only
                    logger.warning("delivery %s failed: %s", email.pk, exc)
                    note = f"{type(exc).__name__}: {exc}"[:300]
                    decided.append(("failed", email.pk, sending, DeliveryStatus.FAILED, {"note": note}))
                    continue
                decided.append(("sent", email.pk, sending, DeliveryStatus.SENT, {"sent_at": at}))
                per_domain[email.domain] += 1
                total += 1
                sent += 1
        finally:
            _settle(cursor, decided, outcome)
            mail.close()
    return outcome


def run_nurture(*, at: datetime | None = None) -> dict[str, int]:
    """The worker's chore: enrol from segments, run due steps, send due emails, decide A/B tests."""
    at = at or timezone.now()
    enrolled = enrol_from_segments(at=at)
    requeue_abandoned(at=at)
    steps = 0
    while ran := run_due_steps(at=at):
        steps += ran
    sent = Counter[str]()
    while batch := send_queued(at=at):
        sent.update(batch)
        if not batch["sent"] and not batch["suppressed"] and not batch["failed"]:
            break  # only postponed, taken or waiting ones are left
    decide_ab_tests(at=at)
    return {"enrolled": enrolled, "steps": steps, **sent}


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


# --- A/B tests ----------------------------------------------------------------------------------------------------


def decide_ab_tests(*, at: datetime | None = None) -> int:
    """Promote the winner of every undecided A/B test that is significant now or past its deadline, recording why.
    Returns how many were decided."""
    at = at or timezone.now()
    decided = 0
    for step in Step.objects.filter(kind=StepKind.EMAIL, variant_template__isnull=False, winner=""):
        sent = Delivery.objects.filter(step=step, status=DeliveryStatus.SENT)
        metric = {"open": "opened_at", "click": "clicked_at", "reply": "replied_at"}[step.test_metric]
        counts = {}
        for variant in "AB":
            mine = sent.filter(variant=variant)
            counts[variant] = (mine.count(), mine.filter(**{f"{metric}__isnull": False}).count())
        deadline_passed = step.test_deadline is not None and step.test_deadline <= at
        verdict = decide(counts, metric=step.get_test_metric_display().lower(), deadline_passed=deadline_passed)
        if verdict is not None:
            Step.objects.filter(pk=step.pk, winner="").update(
                winner=verdict.winner, decided_at=at, decision=verdict.why
            )
            decided += 1
    return decided
