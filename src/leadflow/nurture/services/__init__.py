"""Writes for nurture: segments, templates and sequences (marketing and admins), enrolment, the engine that runs
due steps and sends their emails, tracking (opens, clicks, unsubscribes, replies, bounces) and A/B decisions."""

from .abtest import decide_ab_tests
from .authoring import (
    UPDATABLE_FIELDS,
    add_step,
    can_nurture,
    delete_segment,
    delete_step,
    delete_template,
    ensure_can_nurture,
    save_segment,
    save_sequence,
    save_template,
)
from .engine import DELIVERY_COLUMNS, ENROLMENT_COLUMNS, MAX_STEPS_PER_RUN, run_due_steps, run_nurture, wait_until
from .enrolment import enrol, enrol_from_segments, enrol_leads
from .sending import LEASE, Outcome, QueuedEmail, _settle, requeue_abandoned, send_queued
from .tracking import record_click, record_open, record_outcome, set_email_consent, suppress

__all__ = [
    "DELIVERY_COLUMNS",
    "ENROLMENT_COLUMNS",
    "LEASE",
    "MAX_STEPS_PER_RUN",
    "UPDATABLE_FIELDS",
    "Outcome",
    "QueuedEmail",
    "_settle",
    "add_step",
    "can_nurture",
    "decide_ab_tests",
    "delete_segment",
    "delete_step",
    "delete_template",
    "enrol",
    "enrol_from_segments",
    "enrol_leads",
    "ensure_can_nurture",
    "record_click",
    "record_open",
    "record_outcome",
    "requeue_abandoned",
    "run_due_steps",
    "run_nurture",
    "save_segment",
    "save_sequence",
    "save_template",
    "send_queued",
    "set_email_consent",
    "suppress",
    "wait_until",
]
