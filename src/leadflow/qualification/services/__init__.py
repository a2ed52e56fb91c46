"""Writes for qualification and handoff: checklists, intent and assignment rules, the sales queue's decisions,
assignment, and the SLA check."""

from .assignment import (
    RULE_FIELDS,
    assign_lead,
    assign_queued_leads,
    assign_waiting_leads,
    can_edit_assignment_rules,
    create_assignment_rule,
    delete_assignment_rule,
    ensure_can_edit_assignment,
    move_assignment_rule,
    update_assignment_rule,
)
from .criteria import CAPPED_STAGES, can_edit_settings, missing_for_entry, save_criteria
from .handoffs import accept_handoff, can_decide, follow_lifecycle, open_handoff, reject_handoff
from .intent import (
    INTENT_FIELDS,
    can_edit_intent_rules,
    create_intent_rule,
    delete_intent_rule,
    promote_for_intent,
    promote_on_intent,
    update_intent_rule,
)
from .sla import SETTINGS_FIELDS, check_slas, save_settings

__all__ = [
    "CAPPED_STAGES",
    "INTENT_FIELDS",
    "RULE_FIELDS",
    "SETTINGS_FIELDS",
    "accept_handoff",
    "assign_lead",
    "assign_queued_leads",
    "assign_waiting_leads",
    "can_decide",
    "can_edit_assignment_rules",
    "can_edit_intent_rules",
    "can_edit_settings",
    "check_slas",
    "create_assignment_rule",
    "create_intent_rule",
    "delete_assignment_rule",
    "delete_intent_rule",
    "ensure_can_edit_assignment",
    "follow_lifecycle",
    "missing_for_entry",
    "move_assignment_rule",
    "open_handoff",
    "promote_for_intent",
    "promote_on_intent",
    "reject_handoff",
    "save_criteria",
    "save_settings",
    "update_assignment_rule",
    "update_intent_rule",
]
