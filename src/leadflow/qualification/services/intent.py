"""Explicit intent: the rules that make a lead a prospect at once, and applying them to new events."""

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from leadflow.engagement.models import Event, EventType
from leadflow.errors import InvalidInput, NotAllowed
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.services import record_lifecycle_change
from leadflow.users.models import User

from ..models import (
    Handoff,
    HandoffStatus,
    IntentRule,
    QualifiedBy,
)
from ..selectors import active_intent_rules, matching_intent

# --- explicit intent ----------------------------------------------------------------------------------------------

INTENT_FIELDS = {"name", "event_type", "property_name", "property_contains", "is_active"}


def can_edit_intent_rules(user: User) -> bool:
    return user.is_admin or user.is_marketing


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
    rules = active_intent_rules()
    if not rules:
        return
    shown: dict[int, tuple[IntentRule, Event]] = {}
    for event in sorted(events, key=lambda event: event.occurred_at):
        rule = matching_intent(rules, event.type, event.properties or {})
        if rule is not None and event.lead_id is not None and event.lead_id not in shown:
            shown[event.lead_id] = (rule, event)
    for lead in Lead.objects.select_for_update().filter(pk__in=list(shown), lifecycle_stage__in=WAITING):
        rule, event = shown[lead.pk]
        what = f"{rule.name} ({event.get_type_display().lower()} on {timezone.localtime(event.occurred_at):%Y-%m-%d})"
        promote_for_intent(lead, what=what, rule=rule)


WAITING = (LifecycleStage.LEAD, LifecycleStage.RECYCLED)


def promote_for_intent(lead: Lead, *, what: str, rule: IntentRule | None = None) -> bool:
    """Make a waiting (lead or recycled) lead a prospect at once for the intent described in `what` (a rule's
    match, or a form that counts as explicit intent); returns whether it moved. Call inside a transaction."""
    if lead.lifecycle_stage not in WAITING:
        return False
    if lead.lifecycle_stage == LifecycleStage.RECYCLED:
        record_lifecycle_change(lead, to=LifecycleStage.LEAD, by=None, reason=f"Re-engaged: {what}")
    record_lifecycle_change(lead, to=LifecycleStage.PROSPECT, by=None, reason=f"Explicit intent: {what}")
    Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).update(
        qualified_by=QualifiedBy.INTENT, intent_rule=rule
    )
    return True
