"""Pipeline analytics, computed in the database over the history rows: KPIs, funnel, pipeline, velocity,
bottlenecks, forecast. Every function takes a `Scope` (who is asking, which period and slice) and returns plain
data: dicts and lists of dicts, ready for JSON, CSV and charts.

Periods: lead figures count leads created in the period; deal figures count deals created in it.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    BooleanField,
    Case,
    Count,
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Field,
    FilteredRelation,
    FloatField,
    IntegerField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest, RowNumber
from django.utils import timezone

from leadflow.history import days_between, epoch_days, qualified_column
from leadflow.leads.lifecycle import FORWARD
from leadflow.leads.models import Lead, LeadSource, LifecycleStage, StageChange
from leadflow.leads.selectors import leads_visible_to
from leadflow.pipeline.models import (
    Activity,
    ForecastSnapshot,
    ForecastSnapshotDeal,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
    Stage,
)
from leadflow.pipeline.selectors import (
    BACKTEST_MONTHS,
    month_starts,
    newest_move,
    open_spells,
    opportunities_visible_to,
    spell_covers,
)
from leadflow.users.models import Team, User

from .models import PipelineSnapshot, SnapshotDeal
