"""Writes for qualification and handoff: checklists, intent and assignment rules, the sales queue's decisions,
assignment, and the SLA check."""

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from leadflow.accounts.models import EmployeeBand
from leadflow.engagement.models import Event, EventType
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.leads.models import AssignmentHow, Lead, LeadSource, LifecycleStage, StageChange
from leadflow.leads.selectors import people_to_tell
from leadflow.leads.services import assign_owner, record_lifecycle_change
from leadflow.pipeline.models import Activity, Pipeline
from leadflow.pipeline.selectors import default_pipeline
from leadflow.scoring.models import LeadScore
from leadflow.users.models import Role, User
from leadflow.users.services import ensure_admin, notify

from .models import (
    AssignmentRule,
    AssignmentWeight,
    Criterion,
    Distribution,
    Handoff,
    HandoffStatus,
    IntentRule,
    QualificationCriterion,
    QualificationSettings,
    QualifiedBy,
    SlaBreach,
    SlaKind,
)
from .selectors import (
    TOUCHES,
    business_hours,
    criteria_for,
    matching_intent,
    missing_criteria,
    qualification_settings,
)

logger = logging.getLogger(__name__)

# Leads a rep holds that count against an assignment cap: those not yet turned into deals.
CAPPED_STAGES = (LifecycleStage.LEAD, LifecycleStage.PROSPECT, LifecycleStage.RECYCLED)


# --- checklists ---------------------------------------------------------------------------------------------------


@transaction.atomic
def save_criteria(pipeline: Pipeline, items: list[dict[str, Any]], *, by: User) -> list[QualificationCriterion]:
    """Replace the pipeline's checklist settings: each item names a `kind` and any of `threshold`, `is_active`,
    `required_to_accept`, `required_to_convert`; kinds not given keep what they had."""
    ensure_admin(by)
    current = {criterion.kind: criterion for criterion in criteria_for(pipeline)}
    for index, item in enumerate(items):
        kind = item.get("kind")
        if kind not in Criterion.values:
            raise InvalidInput.on(f"criteria[{index}].kind", f"Must be one of: {', '.join(Criterion.values)}.")
        criterion = current[kind]
        unknown = set(item) - {"kind", "threshold", "is_active", "required_to_accept", "required_to_convert"}
        if unknown:
            raise InvalidInput.on(f"criteria[{index}].{sorted(unknown)[0]}", "Unknown field.")
        for name in ("is_active", "required_to_accept", "required_to_convert"):
            if name in item:
                setattr(criterion, name, bool(item[name]))
        if "threshold" in item:
            criterion.threshold = _threshold(kind, item["threshold"], f"criteria[{index}].threshold")
        if (criterion.required_to_accept or criterion.required_to_convert) and not criterion.is_active:
            raise InvalidInput.on(f"criteria[{index}].is_active", "A required criterion must be on the checklist.")
    for criterion in current.values():
        criterion.save()
    return list(current.values())


def _threshold(kind: str, value: Any, field: str) -> int | None:
    if value in (None, ""):
        if kind in (Criterion.TIMING, Criterion.ICP_FIT):
            raise InvalidInput.on(field, "Give a number.")
        return None
    if kind in (Criterion.AUTHORITY, Criterion.NEED):
        raise InvalidInput.on(field, "This criterion takes no threshold.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput.on(field, "Must be a whole number.") from None
    if number < 0 or (kind == Criterion.ICP_FIT and number > 100):
        raise InvalidInput.on(field, "Must be between 0 and 100." if kind == Criterion.ICP_FIT else "Must be ≥ 0.")
    return number


def missing_for_entry(sender: object, *, lead: Lead, to: str, context: dict[str, Any], **kwargs: Any) -> list[str]:
    """What a person's move of the lead into `to` still needs: the criteria required to accept it (prospect) or to
    convert it (opportunity, in the conversion's pipeline). Connected to `stage_entry_requested`."""
    if to == LifecycleStage.PROSPECT:
        return missing_criteria(lead, default_pipeline(), to_convert=False)
    if to == LifecycleStage.OPPORTUNITY:
        return missing_criteria(lead, context.get("pipeline") or default_pipeline(), to_convert=True)
    return []


# --- explicit intent ----------------------------------------------------------------------------------------------

INTENT_FIELDS = {"name", "event_type", "property_name", "property_contains", "is_active"}


def can_edit_settings(user: User) -> bool:
    """Checklists and SLA settings are the admins'."""
    return user.is_admin


def can_edit_intent_rules(user: User) -> bool:
    return user.is_admin or user.is_marketing


def can_edit_assignment_rules(user: User) -> bool:
    return user.is_admin or user.is_manager


def _ensure_can_edit_intent(user: User) -> None:
    if not can_edit_intent_rules(user):
        raise NotAllowed("Only admins and marketing may change intent rules.")


def _save_intent_rule(rule: IntentRule, fields: dict[str, Any]) -> IntentRule:
    unknown = set(fields) - INTENT_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    for name, value in fields.items():
        setattr(rule, name, value.strip() if isinstance(value, str) else value)
    if not rule.name:
        raise InvalidInput.on("name", "This field is required.")
    if rule.event_type not in EventType.values:
        raise InvalidInput.on("event_type", f"Must be one of: {', '.join(EventType.values)}.")
    if bool(rule.property_name) != bool(rule.property_contains):
        raise InvalidInput.on("property_contains", "Give both the property and the text it contains, or neither.")
    rule.save()
    return rule


def create_intent_rule(*, by: User, **fields: Any) -> IntentRule:
    _ensure_can_edit_intent(by)
    return _save_intent_rule(IntentRule(), fields)


def update_intent_rule(rule: IntentRule, *, by: User, **fields: Any) -> IntentRule:
    _ensure_can_edit_intent(by)
    return _save_intent_rule(rule, fields)


def delete_intent_rule(rule: IntentRule, *, by: User) -> None:
    _ensure_can_edit_intent(by)
    rule.delete()


def promote_on_intent(sender: object, *, events: Iterable[Event], **kwargs: Any) -> None:
    """Make each lead whose new event shows explicit intent a prospect at once, the rule named in the reason.
    Connected to `events_ingested` (before scoring, so intent, not the score it also earns, is the recorded why)."""
    rules = [rule for rule in IntentRule.objects.all() if rule.is_active]
    if not rules:
        return
    shown: dict[int, tuple[IntentRule, Event]] = {}
    for event in sorted(events, key=lambda event: event.occurred_at):
        rule = matching_intent(rules, event.type, event.properties or {})
        if rule is not None and event.lead_id is not None and event.lead_id not in shown:
            shown[event.lead_id] = (rule, event)
    waiting = (LifecycleStage.LEAD, LifecycleStage.RECYCLED)
    for lead in Lead.objects.select_for_update().filter(pk__in=list(shown), lifecycle_stage__in=waiting):
        rule, event = shown[lead.pk]
        what = f"{rule.name} ({event.get_type_display().lower()} on {timezone.localtime(event.occurred_at):%Y-%m-%d})"
        if lead.lifecycle_stage == LifecycleStage.RECYCLED:
            record_lifecycle_change(lead, to=LifecycleStage.LEAD, by=None, reason=f"Re-engaged: {what}")
        record_lifecycle_change(lead, to=LifecycleStage.PROSPECT, by=None, reason=f"Explicit intent: {what}")
        Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).update(
            qualified_by=QualifiedBy.INTENT, intent_rule=rule
        )


# --- the sales queue ----------------------------------------------------------------------------------------------


def follow_lifecycle(sender: object, *, lead: Lead, change: StageChange, **kwargs: Any) -> None:
    """Keep the sales queue in step with the lifecycle: a new prospect arrives in it (and gets an owner by the
    assignment rules when it has none); a waiting one that is converted counts as accepted, one disqualified or
    recycled as rejected. Connected to `lifecycle_changed`."""
    if change.to_stage == LifecycleStage.PROSPECT:
        handoff = open_handoff(lead, by=change.by, reason=change.reason, at=change.at)
        if lead.owner_id is None:
            assign_lead(lead, handoff=handoff, at=change.at)
        return
    pending = Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING)
    if change.to_stage == LifecycleStage.OPPORTUNITY:
        pending.update(status=HandoffStatus.ACCEPTED, decided_at=change.at, decided_by=change.by)
    elif change.to_stage in (LifecycleStage.DISQUALIFIED, LifecycleStage.RECYCLED):
        pending.update(
            status=HandoffStatus.REJECTED, decided_at=change.at, decided_by=change.by,
            rejection_reason=change.reason[:500],
        )  # fmt: skip


def open_handoff(lead: Lead, *, by: User | None, reason: str, at: datetime) -> Handoff:
    """Put a newly qualified lead in the sales queue with its SLA clock; a rep who qualifies a lead by hand has
    accepted it by doing so."""
    settings = qualification_settings()
    hours = business_hours(settings)
    score = LeadScore.objects.filter(lead=lead).values_list("total", flat=True).first()
    is_hot = score is not None and score >= settings.hot_score
    handoff = Handoff(
        lead=lead,
        arrived_at=at,
        qualified_by=QualifiedBy.BY_HAND if by is not None else QualifiedBy.SCORE,
        reason=reason[:500],
        source=lead.source,
        is_hot=is_hot,
        first_touch_due_at=hours.add(at, settings.hot_first_touch_hours if is_hot else settings.first_touch_hours),
        decision_due_at=hours.add(at, settings.decision_hours),
    )
    if by is not None and by.is_sales:
        handoff.status, handoff.decided_at, handoff.decided_by = HandoffStatus.ACCEPTED, at, by
    Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).update(
        status=HandoffStatus.REJECTED, decided_at=at, rejection_reason="Superseded: qualified again"
    )
    handoff.save()
    return handoff


def _pending(handoff: Handoff) -> Handoff:
    handoff = Handoff.objects.select_for_update().select_related("lead").get(pk=handoff.pk)
    if handoff.status != HandoffStatus.PENDING:
        raise Conflict(
            f"This lead was already {handoff.get_status_display().lower()}.", errors={"status": ["Not waiting."]}
        )
    return handoff


def can_decide(handoff: Handoff, user: User) -> bool:
    """Whether the user may accept or reject this waiting lead: its owner, a manager of its team or its owner's,
    an admin, or a rep of its team while it has no owner (taking it from the queue); never marketing."""
    lead = handoff.lead
    if user.is_marketing or handoff.status != HandoffStatus.PENDING:
        return False
    if user.is_admin or lead.owner_id == user.pk:
        return True
    if user.is_manager and user.team_id is not None:
        return user.team_id in (lead.team_id, getattr(lead.owner, "team_id", None))
    return user.is_sales and lead.owner_id is None and user.team_id is not None and lead.team_id == user.team_id


def _ensure_can_decide(handoff: Handoff, by: User) -> None:
    if by.is_marketing:
        raise NotAllowed("Sales accepts or rejects qualified leads, not marketing.")
    if not can_decide(handoff, by):
        raise NotAllowed("Only the lead's owner or their manager may accept or reject it.")


@transaction.atomic
def accept_handoff(handoff: Handoff, *, by: User) -> Handoff:
    """Sales accepts a qualified lead (a rep taking it from the team queue becomes its owner); refused while the
    lead lacks a criterion required to accept, each named."""
    handoff = _pending(handoff)
    _ensure_can_decide(handoff, by)
    lead = handoff.lead
    missing = missing_criteria(lead, default_pipeline(), to_convert=False)
    if missing:
        raise Conflict(
            f"The lead cannot be accepted yet: {'; '.join(missing)}.",
            errors={"qualification": missing},
            extra={"missing": missing},
        )
    if lead.owner_id is None and by.is_sales:
        assign_owner(lead, by, by=by, how=AssignmentHow.BY_HAND)
    handoff.status, handoff.decided_at, handoff.decided_by = HandoffStatus.ACCEPTED, timezone.now(), by
    handoff.save(update_fields=["status", "decided_at", "decided_by"])
    return handoff


@transaction.atomic
def reject_handoff(handoff: Handoff, *, by: User, reason: str) -> Handoff:
    """Sales rejects a qualified lead with a reason: it goes back to marketing's nurture as `recycled`."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.on("reason", "Say why the lead is rejected.")
    handoff = _pending(handoff)
    _ensure_can_decide(handoff, by)
    handoff.status, handoff.decided_at, handoff.decided_by = HandoffStatus.REJECTED, timezone.now(), by
    handoff.rejection_reason = reason[:500]
    handoff.save(update_fields=["status", "decided_at", "decided_by", "rejection_reason"])
    lead = Lead.objects.select_for_update().get(pk=handoff.lead_id)
    if lead.lifecycle_stage == LifecycleStage.PROSPECT:
        record_lifecycle_change(lead, to=LifecycleStage.RECYCLED, by=by, reason=f"Rejected by sales: {reason}")
    return handoff


# --- assignment rules ---------------------------------------------------------------------------------------------

RULE_FIELDS = {
    "name", "is_active", "regions", "industries", "employee_bands", "sources", "min_score", "user", "team",
    "distribution", "max_open_leads", "weights",
}  # fmt: skip


def ensure_can_edit_assignment(user: User) -> None:
    if not can_edit_assignment_rules(user):
        raise NotAllowed("Only admins and sales managers may change assignment rules.")


def _texts(value: Any, field: str, allowed: list[str] | None = None) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise InvalidInput.on(field, "Must be a list of texts.")
    items = [item.strip() for item in value if item.strip()]
    if allowed is not None:
        wrong = [item for item in items if item not in allowed]
        if wrong:
            raise InvalidInput.on(field, f"{wrong[0]!r} is not one of: {', '.join(allowed)}.")
    return items


def _optional_int(value: Any, field: str, *, least: int | None = None) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput.on(field, "Must be a whole number.") from None
    if least is not None and number < least:
        raise InvalidInput.on(field, f"Must be at least {least}.")
    return number


def _save_assignment_rule(rule: AssignmentRule, fields: dict[str, Any]) -> AssignmentRule:
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    weights = fields.pop("weights", None)
    if "name" in fields:
        rule.name = (fields["name"] or "").strip()
    if not rule.name:
        raise InvalidInput.on("name", "This field is required.")
    if "is_active" in fields:
        rule.is_active = bool(fields["is_active"])
    for name in ("regions", "industries"):
        if name in fields:
            setattr(rule, name, _texts(fields[name], name))
    if "employee_bands" in fields:
        rule.employee_bands = _texts(fields["employee_bands"], "employee_bands", EmployeeBand.values)
    if "sources" in fields:
        rule.sources = _texts(fields["sources"], "sources", LeadSource.values)
    if "min_score" in fields:
        rule.min_score = _optional_int(fields["min_score"], "min_score")
    if "max_open_leads" in fields:
        rule.max_open_leads = _optional_int(fields["max_open_leads"], "max_open_leads", least=1)
    if "distribution" in fields:
        if fields["distribution"] not in Distribution.values:
            raise InvalidInput.on("distribution", f"Must be one of: {', '.join(Distribution.values)}.")
        rule.distribution = fields["distribution"]
    if "user" in fields or "team" in fields:
        rule.user, rule.team = fields.get("user"), fields.get("team")
    if (rule.user_id is None) == (rule.team_id is None):
        raise InvalidInput.on("user", "Assign to one user or to one team.")
    if rule.user is not None and not rule.user.is_active:
        raise InvalidInput.on("user", f"{rule.user.username} is not an active user.")
    rule.save()
    if weights is not None:
        _save_weights(rule, weights)
    return rule


def _save_weights(rule: AssignmentRule, weights: dict[Any, Any]) -> None:
    if not isinstance(weights, dict):
        raise InvalidInput.on("weights", "Give a weight per user id.")
    for user_id, weight in weights.items():
        number = _optional_int(weight, f"weights.{user_id}", least=1) or 1
        user = User.objects.filter(pk=_optional_int(user_id, "weights") or 0).first()
        if user is None or rule.team_id is None or user.team_id != rule.team_id:
            raise InvalidInput.on(f"weights.{user_id}", "Not a member of the rule's team.")
        AssignmentWeight.objects.update_or_create(rule=rule, user=user, defaults={"weight": number})


@transaction.atomic
def create_assignment_rule(*, by: User, **fields: Any) -> AssignmentRule:
    """A new rule, tried after the existing ones."""
    ensure_can_edit_assignment(by)
    last = AssignmentRule.objects.order_by("-position").values_list("position", flat=True).first()
    return _save_assignment_rule(AssignmentRule(position=(last or 0) + 1), fields)


@transaction.atomic
def update_assignment_rule(rule: AssignmentRule, *, by: User, **fields: Any) -> AssignmentRule:
    ensure_can_edit_assignment(by)
    return _save_assignment_rule(rule, fields)


def delete_assignment_rule(rule: AssignmentRule, *, by: User) -> None:
    ensure_can_edit_assignment(by)
    rule.delete()


@transaction.atomic
def move_assignment_rule(rule: AssignmentRule, *, by: User, step: int) -> None:
    """Try the rule earlier (step -1) or later (+1)."""
    ensure_can_edit_assignment(by)
    rules = list(AssignmentRule.objects.order_by("position", "id"))
    index = next(i for i, other in enumerate(rules) if other.pk == rule.pk)
    target = min(max(index + step, 0), len(rules) - 1)
    rules.insert(target, rules.pop(index))
    for position, other in enumerate(rules, start=1):
        if other.position != position:
            AssignmentRule.objects.filter(pk=other.pk).update(position=position)


# --- assignment ---------------------------------------------------------------------------------------------------


def _matches(rule: AssignmentRule, lead: Lead, score: float | None) -> bool:
    account = lead.contact.account
    facts = {
        "regions": account.region if account else "",
        "industries": account.industry if account else "",
        "employee_bands": account.employee_band if account else "",
        "sources": lead.source,
    }
    for name, value in facts.items():
        wanted = getattr(rule, name)
        if wanted and value.lower() not in {item.lower() for item in wanted}:
            return False
    return rule.min_score is None or (score is not None and score >= rule.min_score)


def _members(rule: AssignmentRule, exclude: set[int]) -> list[User]:
    if rule.user_id is not None:
        members = [rule.user] if rule.user and rule.user.is_active else []
    else:
        members = list(User.objects.filter(team=rule.team, role=Role.SALES, is_active=True).order_by("id"))
    return [user for user in members if user.pk not in exclude]


def _under_cap(rule: AssignmentRule, user: User) -> bool:
    """Whether the rep may take one more lead from this rule; locks the rep's row so that concurrent assigners
    (any rule) count the rep's leads one after the other."""
    if rule.max_open_leads is None:
        return True
    User.objects.select_for_update().filter(pk=user.pk).first()
    return Lead.objects.filter(owner=user, lifecycle_stage__in=CAPPED_STAGES).count() < rule.max_open_leads


def _choose(rule: AssignmentRule, exclude: set[int]) -> User | None:
    """The rep the rule gives its next lead to (rule row locked by the caller), or None when nobody may take it."""
    members = _members(rule, exclude)
    if rule.distribution == Distribution.WEIGHTED:
        shares = {share.user_id: share for share in AssignmentWeight.objects.filter(rule=rule)}
        given = {user_id: share.assigned for user_id, share in shares.items()}
        weight = {user_id: share.weight for user_id, share in shares.items()}
        members.sort(key=lambda user: ((given.get(user.pk, 0) + 1) / weight.get(user.pk, 1), user.pk))
    else:
        after = [user for user in members if rule.last_assigned_id is not None and user.pk > rule.last_assigned_id]
        members = after + [user for user in members if user not in after]
    return next((user for user in members if _under_cap(rule, user)), None)


def assign_lead(
    lead: Lead, *, handoff: Handoff | None = None, at: datetime | None = None, exclude: Iterable[int] = ()
) -> User | None:
    """Give an unowned lead an owner: its account's owner when the account has one, else the first active rule it
    matches that has a rep who may take it (`exclude`: reps not to choose). Records the assignment; returns the
    owner, or None when the lead stays in the queue. The caller holds the lead's row."""
    at = at or timezone.now()
    account = lead.contact.account
    owner_of_account = account.owner if account is not None else None
    if owner_of_account is not None and owner_of_account.is_active and owner_of_account.pk not in set(exclude):
        assign_owner(lead, owner_of_account, by=None, how=AssignmentHow.ACCOUNT_OWNER, at=at)
        return owner_of_account
    score = LeadScore.objects.filter(lead=lead).values_list("total", flat=True).first()
    for candidate in AssignmentRule.objects.filter(is_active=True).order_by("position", "id"):
        if not _matches(candidate, lead, score):
            continue
        rule = AssignmentRule.objects.select_for_update(of=("self",)).select_related("user").get(pk=candidate.pk)
        owner = _choose(rule, set(exclude))
        if owner is None:
            continue
        if rule.distribution == Distribution.WEIGHTED:
            share, _ = AssignmentWeight.objects.get_or_create(rule=rule, user=owner)
            AssignmentWeight.objects.filter(pk=share.pk).update(assigned=share.assigned + 1)
        AssignmentRule.objects.filter(pk=rule.pk).update(last_assigned=owner)
        assign_owner(lead, owner, by=None, how=AssignmentHow.RULE, rule_name=rule.name, at=at)
        pending = handoff or Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).first()
        if pending is not None:
            Handoff.objects.filter(pk=pending.pk).update(assignment_rule=rule)
        return owner
    return None


def assign_waiting_leads(
    *,
    lead_ids: Iterable[int] | None = None,
    queued_only: bool = False,
    limit: int | None = None,
    by: User | None = None,
) -> dict[str, int]:
    """Run assignment over unowned prospects (only those waiting in the sales queue with `queued_only`), or over
    the given open leads: each lead in its own transaction, claimed with SKIP LOCKED on PostgreSQL so that several
    workers never assign one lead twice. A person asking (`by`) must be an admin or a manager. Returns
    {"assigned", "unassigned"} counts."""
    if by is not None:
        ensure_can_edit_assignment(by)
    waiting = Lead.objects.filter(owner__isnull=True)
    if lead_ids is not None:
        waiting = waiting.filter(pk__in=list(lead_ids), lifecycle_stage__in=CAPPED_STAGES)
    else:
        waiting = waiting.filter(lifecycle_stage=LifecycleStage.PROSPECT)
        if queued_only:
            waiting = waiting.filter(handoffs__status=HandoffStatus.PENDING)
    ids = waiting.order_by("created_at", "id").values_list("pk", flat=True)
    counts = {"assigned": 0, "unassigned": 0}
    skip = connection.features.has_select_for_update_skip_locked
    for lead_id in ids[:limit] if limit is not None else ids:
        with transaction.atomic():
            claimed = Lead.objects.select_for_update(skip_locked=skip, of=("self",)).filter(
                pk=lead_id, owner__isnull=True
            )
            lead = claimed.select_related("contact__account__owner").first()
            if lead is None:
                continue  # another worker holds it, or gave it an owner since
            counts["assigned" if assign_lead(lead) is not None else "unassigned"] += 1
    return counts


# --- SLAs ---------------------------------------------------------------------------------------------------------

SETTINGS_FIELDS = {
    "hot_score", "hot_first_touch_hours", "first_touch_hours", "decision_hours", "day_starts", "day_ends",
    "business_days", "time_zone", "reassign_on_breach",
}  # fmt: skip


@transaction.atomic
def save_settings(*, by: User, **fields: Any) -> QualificationSettings:
    """Change the SLA settings; applies to leads that arrive from now on."""
    ensure_admin(by)
    unknown = set(fields) - SETTINGS_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    settings = qualification_settings()
    for name in ("hot_first_touch_hours", "first_touch_hours", "decision_hours"):
        if name in fields:
            try:
                hours = float(fields[name])
            except (TypeError, ValueError):
                raise InvalidInput.on(name, "Must be a number of hours.") from None
            if not 0 < hours <= 24 * 30:
                raise InvalidInput.on(name, "Must be more than 0 and at most 720 hours.")
            setattr(settings, name, hours)
    for name, low, high in (("hot_score", -1000, 1000), ("day_starts", 0, 23), ("day_ends", 1, 24)):
        if name in fields:
            number = _optional_int(fields[name], name)
            if number is None or not low <= number <= high:
                raise InvalidInput.on(name, f"Must be a whole number from {low} to {high}.")
            setattr(settings, name, number)
    if settings.day_starts >= settings.day_ends:
        raise InvalidInput.on("day_ends", "The business day must end after it starts.")
    if "business_days" in fields:
        days = fields["business_days"]
        if not isinstance(days, list | tuple) or not days or any(day not in range(7) for day in days):
            raise InvalidInput.on("business_days", "Give at least one weekday, Monday = 0 … Sunday = 6.")
        settings.business_days = sorted(set(days))
    if "time_zone" in fields:
        try:
            ZoneInfo(str(fields["time_zone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput.on("time_zone", "Not a time zone, e.g. Europe/Berlin.") from None
        settings.time_zone = str(fields["time_zone"])
    if "reassign_on_breach" in fields:
        settings.reassign_on_breach = bool(fields["reassign_on_breach"])
    settings.save()
    return settings


def _record_first_touches() -> None:
    first = (
        Activity.objects.filter(
            lead=OuterRef("lead_id"), kind__in=TOUCHES, is_done=True, done_at__gte=OuterRef("arrived_at")
        )
        .values("lead")
        .annotate(first=Min("done_at"))
        .values("first")
    )
    Handoff.objects.filter(first_touched_at__isnull=True).exclude(status=HandoffStatus.REJECTED).update(
        first_touched_at=Subquery(first)
    )


def _due_breaches(at: datetime) -> list[tuple[int, SlaKind, datetime]]:
    missed_touch = (
        Handoff.objects.exclude(status=HandoffStatus.REJECTED)
        .filter(first_touch_due_at__lt=at)
        .exclude(first_touched_at__lte=F("first_touch_due_at"))
        .exclude(breaches__kind=SlaKind.FIRST_TOUCH)
        .values_list("pk", "first_touch_due_at")
    )
    undecided = (
        Handoff.objects.filter(status=HandoffStatus.PENDING, decision_due_at__lt=at)
        .exclude(breaches__kind=SlaKind.DECISION)
        .values_list("pk", "decision_due_at")
    )
    return [(pk, SlaKind.FIRST_TOUCH, due) for pk, due in missed_touch] + [
        (pk, SlaKind.DECISION, due) for pk, due in undecided
    ]


def check_slas(*, at: datetime | None = None, by: User | None = None) -> dict[str, int]:
    """Flag every response time missed as of `at` (now): one breach row per handoff and kind, however many workers
    check at once; notify the owner and their managers (in the app and by email); reassign a lead whose first
    touch was missed when the settings say so. A person asking (`by`) must be an admin or a manager. Returns
    {"first_touch", "decision", "reassigned"} counts."""
    if by is not None:
        ensure_can_edit_assignment(by)
    at = at or timezone.now()
    settings = qualification_settings()
    _record_first_touches()
    counts = {SlaKind.FIRST_TOUCH: 0, SlaKind.DECISION: 0, "reassigned": 0}
    for handoff_id, kind, due in _due_breaches(at):
        try:
            with transaction.atomic():
                handoff = Handoff.objects.get(pk=handoff_id)
                lead = (
                    Lead.objects.select_for_update(of=("self",))
                    .select_related("owner", "contact__account__owner")
                    .get(pk=handoff.lead_id)
                )
                breach = SlaBreach.objects.create(
                    handoff=handoff, kind=kind, due_at=due, detected_at=at, owner=lead.owner
                )
                _tell_about(breach, lead, settings)
                if kind == SlaKind.FIRST_TOUCH and settings.reassign_on_breach and lead.owner_id is not None:
                    breach.reassigned_to = _reassign(lead, at=at)
                    breach.save(update_fields=["reassigned_to"])
                    counts["reassigned"] += breach.reassigned_to is not None
        except IntegrityError:
            continue  # another worker recorded this breach first
        counts[kind] += 1
    return {str(kind): count for kind, count in counts.items()}


def _reassign(lead: Lead, *, at: datetime) -> User | None:
    """Take the lead from the owner who missed its SLA and let the rules choose someone else."""
    missed_by = lead.owner_id
    assert missed_by is not None
    assign_owner(lead, None, by=None, how=AssignmentHow.SLA_BREACH, at=at)
    owner = assign_lead(lead, at=at, exclude={missed_by})
    return owner


def _tell_about(breach: SlaBreach, lead: Lead, settings: QualificationSettings) -> None:
    handoff = breach.handoff
    if breach.kind == SlaKind.FIRST_TOUCH:
        hours = settings.hot_first_touch_hours if handoff.is_hot else settings.first_touch_hours
        what = f"not touched within {hours:g} business hour{'s' if hours != 1 else ''}"
    else:
        what = f"not accepted or rejected within {settings.decision_hours:g} business hours"
    local_due = timezone.localtime(breach.due_at, ZoneInfo(settings.time_zone))
    text = (
        f"SLA missed: {lead.contact} ({lead.company_name or 'no company'}) {what} (due {local_due:%a %d %b %Y %H:%M})."
    )
    notify(people_to_tell(lead), text, url=reverse("web:lead", args=[lead.pk]), subject=f"SLA missed: {lead.contact}")


def assign_queued_leads() -> dict[str, int]:
    """The worker's chore: owners for the leads waiting unassigned in the sales queue (new rules, freed caps)."""
    return assign_waiting_leads(queued_only=True, limit=500)
