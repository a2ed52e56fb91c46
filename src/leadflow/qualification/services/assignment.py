"""Assignment rules and giving unowned leads an owner by them (round robin, weights, caps)."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from leadflow.accounts.models import EmployeeBand
from leadflow.errors import InvalidInput, NotAllowed
from leadflow.leads.models import AssignmentHow, Lead, LeadSource, LifecycleStage
from leadflow.leads.services import assign_owner
from leadflow.scoring.models import LeadScore
from leadflow.users.models import Role, User

from ..models import (
    AssignmentRule,
    AssignmentWeight,
    Distribution,
    Handoff,
    HandoffStatus,
)
from .criteria import CAPPED_STAGES


def can_edit_assignment_rules(user: User) -> bool:
    return user.is_admin or user.is_manager


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


def assign_queued_leads() -> dict[str, int]:
    """The worker's chore: owners for the leads waiting unassigned in the sales queue (new rules, freed caps)."""
    return assign_waiting_leads(queued_only=True, limit=500)
