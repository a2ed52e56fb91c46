"""Writes for opportunities and activities: conversion, stage moves, closing, re-opening, logging work."""

from .activities import ACTIVITY_FIELDS, delete_activity, log_activity, update_activity
from .forecast import refresh_forecast_snapshots, take_forecast_snapshots
from .opportunities import (
    OPPORTUNITY_FIELDS,
    close_opportunity,
    convert_lead,
    create_opportunity,
    delete_opportunity,
    ensure_can_work_deals,
    furthest_stage_expression,
    move_opportunity,
    refresh_deal_history,
    reopen_opportunity,
    update_opportunity,
)
from .pipelines import (
    DEFAULT_STAGES,
    add_lost_reason,
    add_stage,
    create_pipeline,
    delete_stage,
    move_stage,
    set_lost_reason_active,
    update_stage,
)

__all__ = [
    "ACTIVITY_FIELDS",
    "DEFAULT_STAGES",
    "OPPORTUNITY_FIELDS",
    "add_lost_reason",
    "add_stage",
    "close_opportunity",
    "convert_lead",
    "create_opportunity",
    "create_pipeline",
    "delete_activity",
    "delete_opportunity",
    "delete_stage",
    "ensure_can_work_deals",
    "furthest_stage_expression",
    "log_activity",
    "move_opportunity",
    "move_stage",
    "refresh_deal_history",
    "refresh_forecast_snapshots",
    "reopen_opportunity",
    "set_lost_reason_active",
    "take_forecast_snapshots",
    "update_activity",
    "update_opportunity",
    "update_stage",
]
