"""The step engine: run each due enrolment's steps (emails to queue, waits, branches, updates, tasks) until it must
wait or leaves; and the worker's nurture chore."""

import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from leadflow.accounts.models import Contact
from leadflow.bulk import database_datetime, insert_rows, no_cycle_collection, update_rows
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.selectors import people_to_tell
from leadflow.leads.services import record_lifecycle_change
from leadflow.pipeline.models import Activity, ActivityKind
from leadflow.users.services import notify

from ..models import (
    Delivery,
    DeliveryStatus,
    Enrolment,
    EnrolmentStatus,
    ExitWhen,
    Sequence,
    Step,
    StepKind,
    Suppression,
    SuppressionReason,
)
from ..selectors import branch_holds, nurture_settings
from .abtest import decide_ab_tests
from .enrolment import enrol_from_segments
from .sending import _zone, requeue_abandoned, send_queued

MAX_STEPS_PER_RUN = 50  # steps one enrolment may take in one pass (a loop of branches cannot spin for ever)


# A queued delivery as run_due_steps writes it (a unique enrolment and step: SKIP LOCKED keeps workers apart).
DELIVERY_COLUMNS = ["enrolment", "step", "lead", "to_email", "domain", "variant", "status", "not_before", "created_at"]


# What the engine reads of an enrolment as it runs steps (a step that needs more of its lead loads it then).
ENROLMENT_COLUMNS = [
    "sequence", "lead", "status", "position", "due_at", "entered_at", "finished_at", "exit_reason",
    "lead__lifecycle_stage", "lead__source", "lead__authority", "lead__owner", "lead__contact__email",
    "lead__contact__time_zone",
]  # fmt: skip


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
