"""Writes for nurture: segments, templates and sequences (marketing and admins), enrolment, the engine that runs
due steps and sends their emails, tracking (opens, clicks, unsubscribes, replies, bounces) and A/B decisions."""

import logging
import os
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from leadflow.accounts.models import Contact
from leadflow.bulk import database_datetime, insert_rows, no_cycle_collection, update_rows
from leadflow.engagement.models import Event, EventType
from leadflow.engagement.services import store_events
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.selectors import people_to_tell
from leadflow.leads.services import record_lifecycle_change
from leadflow.pipeline.models import Activity, ActivityKind
from leadflow.users.models import User
from leadflow.users.services import notify

from .abtest import decide
from .emails import MERGE_COLUMNS, check_template, render_email
from .models import (
    Delivery,
    DeliveryStatus,
    EmailTemplate,
    Enrolment,
    EnrolmentStatus,
    ExitWhen,
    NurtureSettings,
    Segment,
    Sequence,
    Step,
    StepKind,
    Suppression,
    SuppressionReason,
)
from .segments import clean_conditions
from .selectors import branch_holds, leads_in_segment, nurture_settings
