"""Forms: they turn request data into typed values; the services decide what is allowed."""

from collections.abc import Mapping
from typing import Any

from django import forms

from leadflow.accounts.models import EmployeeBand, Seniority
from leadflow.engagement.models import EventType
from leadflow.errors import DomainError
from leadflow.leads.models import Authority, LeadSource, LifecycleStage
from leadflow.nurture.models import EmailTemplate, ExitWhen, Segment, Step, StepKind
from leadflow.nurture.segments import CHOICES as SEGMENT_CHOICES
from leadflow.nurture.segments import NUMBERS as SEGMENT_NUMBERS
from leadflow.nurture.segments import TEXTS as SEGMENT_TEXTS
from leadflow.nurture.services import UPDATABLE_FIELDS
from leadflow.pipeline.models import ActivityKind, LostReason
from leadflow.qualification.models import AssignmentRule, Criterion, Distribution, QualificationCriterion
from leadflow.scoring.models import Matcher, RuleKind
from leadflow.scoring.rules import FIT_FIELDS
from leadflow.users.models import Role, Team, User
