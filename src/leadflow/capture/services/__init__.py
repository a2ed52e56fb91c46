"""Writes for capture: building forms and lead-ads sources, the public submission with its guards, the webhook
deliveries, and the one capture service (`capture_lead`) every door ends in."""

from .forms import can_manage_capture, clean_origins, delete_form, ensure_can_manage_capture, save_form
from .intake import Captured, capture_lead
from .submissions import (
    DOOR,
    HONEYPOT,
    TOKEN,
    Outcome,
    Refused,
    accept,
    answer_form,
    confirm_submission,
    count_refusal,
    form_token,
    origin_allowed,
    submit,
)
from .webhooks import is_signed, receive, replay, save_source

__all__ = [
    "DOOR",
    "HONEYPOT",
    "TOKEN",
    "Captured",
    "Outcome",
    "Refused",
    "accept",
    "answer_form",
    "can_manage_capture",
    "capture_lead",
    "clean_origins",
    "confirm_submission",
    "count_refusal",
    "delete_form",
    "ensure_can_manage_capture",
    "form_token",
    "is_signed",
    "origin_allowed",
    "receive",
    "replay",
    "save_form",
    "save_source",
    "submit",
]
