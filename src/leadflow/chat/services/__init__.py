"""Writes of the chat: scripts, and the bot's conversations with visitors."""

from .conversations import (
    MAX_MESSAGES,
    answer,
    conversation_for,
    conversation_token,
    join_visitor,
    off_hours_notice,
    qualifies,
    start_conversation,
)
from .scripts import DEFAULT_SCRIPT, FIRST_STEPS, can_edit_scripts, save_script

__all__ = [
    "DEFAULT_SCRIPT",
    "FIRST_STEPS",
    "MAX_MESSAGES",
    "answer",
    "can_edit_scripts",
    "conversation_for",
    "conversation_token",
    "join_visitor",
    "off_hours_notice",
    "qualifies",
    "save_script",
    "start_conversation",
]
