"""Reads for qualification and handoff: checklists with their evidence, the sales queue, the "no lead lost" view,
and acceptance rates."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from leadflow.accounts.models import Seniority
from leadflow.leads.models import Assignment, Authority, Lead, LifecycleStage
from leadflow.leads.selectors import leads_visible_to
from leadflow.pipeline.models import Activity, ActivityKind, Pipeline
from leadflow.prepared import Prepared
from leadflow.scoring.models import LeadScore
from leadflow.users.models import User

from .business_hours import BusinessHours
from .models import (
    AssignmentRule,
    Criterion,
    Handoff,
    HandoffStatus,
    IntentRule,
    QualificationCriterion,
    QualificationSettings,
    SlaBreach,
)

WEEKDAYS = [0, 1, 2, 3, 4]
# The checklist a pipeline has until an admin saves its own: BANT plus ICP fit, none of them required.
DEFAULT_THRESHOLDS: dict[str, int] = {Criterion.TIMING: 180, Criterion.ICP_FIT: 60}
SENIOR = (Seniority.VP, Seniority.C_SUITE)
# Activities that count as sales touching a lead (a note or a planned task does not).
TOUCHES = (ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING, ActivityKind.DEMO)


def qualification_settings() -> QualificationSettings:
    """The SLA settings (the defaults until an admin saves them)."""
    return QualificationSettings.objects.filter(pk=1).first() or QualificationSettings(pk=1, business_days=WEEKDAYS)


def business_hours(settings: QualificationSettings | None = None) -> BusinessHours:
    settings = settings or qualification_settings()
    return BusinessHours(settings.day_starts, settings.day_ends, settings.business_days, ZoneInfo(settings.time_zone))


def criteria_for(pipeline: Pipeline) -> list[QualificationCriterion]:
    """The pipeline's checklist in checklist order: its saved criteria, or the default BANT + ICP fit."""
    saved = {criterion.kind: criterion for criterion in pipeline.qualification_criteria.all()}
    return [
        saved.get(kind) or QualificationCriterion(pipeline=pipeline, kind=kind, threshold=DEFAULT_THRESHOLDS.get(kind))
        for kind in Criterion.values
    ]


@dataclass(frozen=True)
class CriterionCheck:
    """One checklist item for one lead: met or not, the evidence, or what is missing."""

    kind: str
    label: str
    met: bool
    evidence: str
    required_to_accept: bool
    required_to_convert: bool


def _money(amount: object) -> str:
    return f"{amount:,.0f}"


def _budget(lead: Lead, threshold: int | None) -> tuple[bool, str]:
    if not lead.budget_confirmed:
        if lead.budget_amount:
            return False, f"budget of {_money(lead.budget_amount)} named but not confirmed"
        return False, "no budget confirmed"
    if threshold is not None and (lead.budget_amount or 0) < threshold:
        return False, f"confirmed budget {_money(lead.budget_amount or 0)} is below {_money(threshold)}"
    return True, f"budget confirmed{f': {_money(lead.budget_amount)}' if lead.budget_amount else ''}"


def _authority(lead: Lead) -> tuple[bool, str]:
    if lead.authority == Authority.DECISION_MAKER:
        return True, "talking to the decision maker"
    if lead.contact.seniority in SENIOR:
        return True, f"contact is {lead.contact.get_seniority_display()}"
    if lead.authority == Authority.UNKNOWN:
        return False, "no decision maker identified"
    return False, f"contact is {lead.get_authority_display().lower()}, not the decision maker"


def _need(lead: Lead) -> tuple[bool, str]:
    need = " ".join(lead.need.split())
    if not need:
        return False, "no need recorded"
    return True, f"need: “{need[:120]}{'…' if len(need) > 120 else ''}”"


def _timing(lead: Lead, threshold: int | None, today: date) -> tuple[bool, str]:
    target = lead.timing_target_date
    if target is None:
        return False, "no target date"
    days = (target - today).days
    if days < 0:
        return False, f"target date {target:%Y-%m-%d} has passed"
    if threshold is not None and days > threshold:
        return False, f"target date {target:%Y-%m-%d} is {days} days away (more than {threshold})"
    return True, f"buying by {target:%Y-%m-%d} (in {days} days)"


def _icp_fit(icp_match: int | None, threshold: int | None) -> tuple[bool, str]:
    if icp_match is None:
        return False, "not scored against the ideal customer profile"
    needed = threshold or 0
    if icp_match < needed:
        return False, f"ICP match {icp_match}% (needs {needed}%)"
    return True, f"ICP match {icp_match}%"


def _icp_match(lead: Lead) -> int | None:
    """The lead's ICP match, from its score when a list loaded it along (the sales queue does), else one query."""
    if not Lead.score.is_cached(lead):
        return LeadScore.objects.filter(lead=lead).values_list("icp_match", flat=True).first()
    try:
        return lead.score.icp_match
    except LeadScore.DoesNotExist:
        return None


def check_criteria(lead: Lead, pipeline: Pipeline, *, at: datetime | None = None) -> list[CriterionCheck]:
    """The lead against the pipeline's active checklist: each item met or not, with its evidence."""
    today = timezone.localdate(at or timezone.now())
    icp_match = _icp_match(lead)
    checks = []
    for criterion in criteria_for(pipeline):
        if not criterion.is_active:
            continue
        kind, threshold = criterion.kind, criterion.threshold
        if kind == Criterion.BUDGET:
            met, evidence = _budget(lead, threshold)
        elif kind == Criterion.AUTHORITY:
            met, evidence = _authority(lead)
        elif kind == Criterion.NEED:
            met, evidence = _need(lead)
        elif kind == Criterion.TIMING:
            met, evidence = _timing(lead, threshold, today)
        else:
            met, evidence = _icp_fit(icp_match, threshold)
        label = criterion.get_kind_display()
        checks.append(
            CriterionCheck(kind, label, met, evidence, criterion.required_to_accept, criterion.required_to_convert)
        )
    return checks


def missing_criteria(lead: Lead, pipeline: Pipeline, *, to_convert: bool) -> list[str]:
    """What the lead lacks of the criteria required to accept it (or to convert it), as '<criterion>: <why>'."""
    return [
        f"{check.label}: {check.evidence}"
        for check in check_criteria(lead, pipeline)
        if not check.met and (check.required_to_convert if to_convert else check.required_to_accept)
    ]


def intent_rules() -> QuerySet[IntentRule]:
    return IntentRule.objects.all()


_ACTIVE_INTENT_RULES = Prepared(lambda: IntentRule.objects.filter(is_active=True))


def active_intent_rules() -> list[IntentRule]:
    """The intent rules in force, by name (read on every batch of new events)."""
    return _ACTIVE_INTENT_RULES()


def matching_intent(rules: Iterable[IntentRule], event_type: str, properties: dict) -> IntentRule | None:
    """The first active intent rule the event meets."""
    for rule in rules:
        if not rule.is_active or rule.event_type != event_type:
            continue
        if rule.property_name:
            value = str(properties.get(rule.property_name, ""))
            if rule.property_contains.lower() not in value.lower():
                continue
        return rule
    return None


def assignment_rules() -> QuerySet[AssignmentRule]:
    return AssignmentRule.objects.select_related("user", "team").prefetch_related("weights__user")


def lead_assignments(lead: Lead) -> QuerySet[Assignment]:
    """Who the lead was given to, oldest first."""
    return lead.assignments.select_related("owner", "by").order_by("at", "id")


def latest_handoff(lead: Lead) -> Handoff | None:
    return lead.handoffs.select_related("decided_by", "intent_rule", "assignment_rule").order_by("-arrived_at").first()


def _touched_in_time() -> Exists:
    return Exists(
        Activity.objects.filter(
            lead=OuterRef("lead_id"),
            kind__in=TOUCHES,
            is_done=True,
            done_at__gte=OuterRef("arrived_at"),
            done_at__lte=OuterRef("first_touch_due_at"),
        )
    )


def sales_queue(user: User, *, status: str = HandoffStatus.PENDING) -> QuerySet[Handoff]:
    """Handoffs the user may see in a status (waiting for sales by default), the most urgent first, each with
    whether sales touched the lead within its SLA."""
    return (
        Handoff.objects.filter(status=status, lead__in=leads_visible_to(user))
        .select_related("lead__contact__account", "lead__owner", "lead__score", "intent_rule", "assignment_rule")
        .annotate(touched=_touched_in_time())
        .order_by("decision_due_at", "id")
    )


def get_handoff(user: User, handoff_id: int) -> Handoff:
    """The handoff if the user may see its lead; one they may not see does not exist for them."""
    handoff = Handoff.objects.filter(pk=handoff_id, lead__in=leads_visible_to(user)).select_related("lead").first()
    if handoff is None:
        raise Http404("No such handoff.")
    return handoff


def first_touch_missed(at: datetime) -> Q:
    """Handoffs whose first-touch clock ran out without a touch in time (as of `at`)."""
    return Q(first_touch_due_at__lt=at, touched=False)


def no_lead_lost(user: User, *, at: datetime | None = None) -> QuerySet[Lead]:
    """Every qualified lead (a prospect) the user may see that has no owner, no next step, or missed its
    first-touch SLA, oldest arrival first; each annotated with `has_next_step`, `touch_missed` and `arrived_at`.
    A next step is an open task or activity, or sales' decision while it is still within its SLA."""
    at = at or timezone.now()
    latest = Handoff.objects.filter(lead=OuterRef("pk")).order_by("-arrived_at", "-id")
    deciding = Handoff.objects.filter(lead=OuterRef("pk"), status=HandoffStatus.PENDING, decision_due_at__gte=at)
    planned = Exists(Activity.objects.filter(lead=OuterRef("pk"), is_done=False))
    open_step = ExpressionWrapper(Q(planned) | Q(Exists(deciding)), output_field=BooleanField())
    missed = (
        Handoff.objects.filter(lead=OuterRef("pk"), status__in=[HandoffStatus.PENDING, HandoffStatus.ACCEPTED])
        .annotate(touched=_touched_in_time())
        .filter(first_touch_missed(at))
    )
    return (
        leads_visible_to(user)
        .filter(lifecycle_stage=LifecycleStage.PROSPECT)
        .annotate(has_next_step=open_step, touch_missed=Exists(missed), arrived_at=latest.values("arrived_at")[:1])
        .filter(Q(owner__isnull=True) | Q(has_next_step=False) | Q(touch_missed=True))
        .select_related("contact__account", "owner")
        .order_by(F("arrived_at").asc(nulls_first=True), "id")
    )


def problems_of(lead: Lead) -> list[str]:
    """In words, why a lead of `no_lead_lost` is at risk."""
    problems = []
    if lead.owner_id is None:
        problems.append("no owner")
    if not getattr(lead, "has_next_step", True):
        problems.append("no next step")
    if getattr(lead, "touch_missed", False):
        problems.append("not touched within the SLA")
    return problems


def sla_breaches(user: User) -> QuerySet[SlaBreach]:
    """The SLA breaches on leads the user may see, newest first."""
    return SlaBreach.objects.filter(handoff__lead__in=leads_visible_to(user)).select_related(
        "handoff__lead__contact", "owner", "reassigned_to"
    )


HANDOFF_GROUPS = {"source": "source", "qualified_by": "qualified_by", "rule": "assignment_rule__name"}


def handoff_rates(leads: QuerySet[Lead], *, by: str) -> list[dict]:
    """Per source, per way of qualifying, or per assignment rule: how many of these leads' handoffs sales got,
    accepted, rejected and has waiting, with acceptance and rejection rates (over decided handoffs)."""
    column = HANDOFF_GROUPS[by]
    rows = (
        Handoff.objects.filter(lead__in=leads)
        .values(group=F(column))
        .annotate(
            handed=Count("id"),
            accepted=Count("id", filter=Q(status=HandoffStatus.ACCEPTED)),
            rejected=Count("id", filter=Q(status=HandoffStatus.REJECTED)),
            waiting=Count("id", filter=Q(status=HandoffStatus.PENDING)),
        )
        .order_by("-handed", "group")
    )
    result = []
    for row in rows:
        decided = row["accepted"] + row["rejected"]
        result.append(
            {
                **row,
                "group": row["group"] or "(none)",
                "acceptance_rate": row["accepted"] / decided if decided else None,
                "rejection_rate": row["rejected"] / decided if decided else None,
            }
        )
    return result
