"""Writes for opportunities and activities: conversion, stage moves, closing, re-opening, logging work."""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Model, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from leadflow.accounts.models import FREE_MAIL_DOMAINS, Account, Contact
from leadflow.accounts.services import email_domain, find_or_create_account
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.history import chunks, most_or_all, refresh_spells, set_on
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.services import ensure_may_enter, record_lifecycle_change
from leadflow.users.models import User
from leadflow.users.services import ensure_admin

from .models import (
    Activity,
    ActivityKind,
    ForecastSnapshot,
    ForecastSnapshotDeal,
    LostReason,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
    Stage,
)
from .selectors import BACKTEST_MONTHS, default_pipeline, month_starts, newest_move, open_spells, spell_covers
