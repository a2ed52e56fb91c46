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
