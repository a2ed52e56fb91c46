"""Writes marketing does by hand: segments, email templates, sequences and their steps."""

from typing import Any

from django.db import transaction
from django.db.models import F, Q

from leadflow.errors import Conflict, InvalidInput, NotAllowed, clash_with, save_or_conflict
from leadflow.leads.models import LifecycleStage
from leadflow.users.models import User

from ..emails import check_template
from ..models import EmailTemplate, EnrolmentStatus, ExitWhen, Segment, Sequence, Step, StepKind
from ..segments import clean_conditions

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
        if (clash := clash_with(row)) is not None:
            raise clash


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
    save_or_conflict(segment)
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
    save_or_conflict(template)
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
    save_or_conflict(sequence)
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
