"""Qualification and handoff: checklists per pipeline, explicit-intent and assignment rules, SLA settings, the sales
queue with accept/reject, each lead's criteria with their evidence, SLA breaches, the "no lead lost" list, acceptance
rates, and the user's notifications."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from leadflow.engagement.models import EventType
from leadflow.errors import NotAllowed
from leadflow.leads.selectors import get_lead, leads_visible_to
from leadflow.pipeline.models import Pipeline
from leadflow.pipeline.selectors import default_pipeline
from leadflow.qualification import selectors, services
from leadflow.qualification.models import (
    AssignmentRule,
    AssignmentWeight,
    Criterion,
    Distribution,
    Handoff,
    IntentRule,
    QualificationCriterion,
    QualificationSettings,
)
from leadflow.users.models import Team, User
from leadflow.users.selectors import notifications_for
from leadflow.users.services import mark_notifications_read

from .auth import current_user
from .columns import Body, Flag, Id, Int, Number, Text, column, omittable
from .pagination import PageParams, page_of, paginate
from .refs import resolve_ids, row
from .statuses import may_conflict

router = Router(tags=["qualification"])


class CriterionIO(Schema):
    kind: Criterion
    threshold: Int | None = column(QualificationCriterion, "threshold", None)
    is_active: Flag = True
    required_to_accept: Flag = False
    required_to_convert: Flag = False


class CriteriaIn(Body):
    pipeline_id: Id | None = Field(None, description="The default pipeline when left out")
    criteria: list[CriterionIO]


class CheckOut(Schema):
    kind: str
    label: str
    met: bool
    evidence: str
    required_to_accept: bool
    required_to_convert: bool


class HandoffOut(Schema):
    id: int
    lead_id: int
    lead_name: str
    owner_id: int | None
    arrived_at: datetime
    qualified_by: str
    reason: str
    source: str
    intent_rule_id: int | None
    assignment_rule_id: int | None
    is_hot: bool
    status: str
    decided_at: datetime | None
    decided_by_id: int | None
    rejection_reason: str
    first_touch_due_at: datetime
    decision_due_at: datetime
    first_touched_at: datetime | None

    @staticmethod
    def resolve_lead_name(handoff: Any) -> str:
        return str(handoff.lead.contact)

    @staticmethod
    def resolve_owner_id(handoff: Any) -> int | None:
        return handoff.lead.owner_id


class AssignmentOut(Schema):
    owner_id: int | None
    at: datetime
    by_id: int | None
    how: str
    rule_name: str


class LeadQualificationOut(Schema):
    lead_id: int
    checks: list[CheckOut]
    handoff: HandoffOut | None
    assignments: list[AssignmentOut]


class IntentRuleIn(Body):
    name: Text = column(IntentRule, "name")
    event_type: EventType
    property_name: Text = column(IntentRule, "property_name", "")
    property_contains: Text = column(IntentRule, "property_contains", "")
    is_active: Flag = True


class IntentRulePatch(Body):
    name: Text = column(IntentRule, "name", None)
    event_type: EventType = omittable()
    property_name: Text = column(IntentRule, "property_name", None)
    property_contains: Text = column(IntentRule, "property_contains", None)
    is_active: Flag = omittable()


class IntentRuleOut(Schema):
    id: int
    name: str
    event_type: str
    property_name: str
    property_contains: str
    is_active: bool


Weight = Annotated[Int, column(AssignmentWeight, "weight", ge=1)]


class AssignmentRuleIn(Body):
    name: Text = column(AssignmentRule, "name")
    is_active: Flag = True
    regions: list[Text] = []
    industries: list[Text] = []
    employee_bands: list[Text] = []
    sources: list[Text] = []
    min_score: Int | None = column(AssignmentRule, "min_score", None)
    user_id: Id | None = Field(None, description="Give every matching lead to this user …")
    team_id: Id | None = Field(None, description="… or share them among this team's active reps")
    distribution: Distribution = Distribution.ROUND_ROBIN
    max_open_leads: Int | None = column(
        AssignmentRule, "max_open_leads", None, description="No rep takes a lead while holding this many"
    )
    weights: dict[Id, Weight] | None = Field(None, description="Weighted rules: {user id: weight}; others weigh 1")


class AssignmentRulePatch(Body):
    name: Text = column(AssignmentRule, "name", None)
    is_active: Flag = omittable()
    regions: list[Text] = omittable()
    industries: list[Text] = omittable()
    employee_bands: list[Text] = omittable()
    sources: list[Text] = omittable()
    min_score: Int | None = column(AssignmentRule, "min_score", None)
    user_id: Id | None = None
    team_id: Id | None = None
    distribution: Distribution = omittable()
    max_open_leads: Int | None = column(AssignmentRule, "max_open_leads", None)
    weights: dict[Id, Weight] | None = None


class WeightOut(Schema):
    user_id: int
    weight: int
    assigned: int


class AssignmentRuleOut(Schema):
    id: int
    name: str
    position: int
    is_active: bool
    regions: list[str]
    industries: list[str]
    employee_bands: list[str]
    sources: list[str]
    min_score: int | None
    user_id: int | None
    team_id: int | None
    distribution: str
    max_open_leads: int | None
    weights: list[WeightOut]

    @staticmethod
    def resolve_weights(rule: AssignmentRule) -> list[Any]:
        return list(rule.weights.all())


class RuleMoveIn(Body):
    step: Literal[-1, 1]


Weekday = Annotated[Int, Field(ge=0, le=6, description="Monday = 0")]
S = QualificationSettings


class QualificationSettingsIO(Schema):
    hot_score: Int = column(S, "hot_score")
    hot_first_touch_hours: Number = column(S, "hot_first_touch_hours")
    first_touch_hours: Number = column(S, "first_touch_hours")
    decision_hours: Number = column(S, "decision_hours")
    day_starts: Int = column(S, "day_starts", le=23)
    day_ends: Int = column(S, "day_ends", le=24)
    business_days: list[Weekday]
    time_zone: Text = column(S, "time_zone")
    reassign_on_breach: Flag


class SettingsPatch(Body):
    hot_score: Int = column(S, "hot_score", None)
    hot_first_touch_hours: Number = column(S, "hot_first_touch_hours", None)
    first_touch_hours: Number = column(S, "first_touch_hours", None)
    decision_hours: Number = column(S, "decision_hours", None)
    day_starts: Int = column(S, "day_starts", None, le=23)
    day_ends: Int = column(S, "day_ends", None, le=24)
    business_days: list[Weekday] = omittable()
    time_zone: Text = column(S, "time_zone", None)
    reassign_on_breach: Flag = omittable()


class RejectIn(Body):
    reason: Text = column(Handoff, "rejection_reason")


class AssignIn(Body):
    lead_ids: list[Id] | None = Field(None, description="These open leads; all unowned prospects when left out")


class AssignOut(Schema):
    assigned: int
    unassigned: int


class SlaCheckOut(Schema):
    first_touch: int
    decision: int
    reassigned: int


class BreachOut(Schema):
    id: int
    handoff_id: int
    lead_id: int = Field(..., alias="handoff.lead_id")
    kind: str
    due_at: datetime
    detected_at: datetime
    owner_id: int | None
    reassigned_to_id: int | None


class AtRiskOut(Schema):
    lead_id: int = Field(..., alias="pk")
    name: str
    owner_id: int | None
    arrived_at: datetime | None
    problems: list[str]

    @staticmethod
    def resolve_name(lead: Any) -> str:
        return str(lead.contact)

    @staticmethod
    def resolve_problems(lead: Any) -> list[str]:
        return selectors.problems_of(lead)


class RateOut(Schema):
    group: str
    handed: int
    accepted: int
    rejected: int
    waiting: int
    acceptance_rate: float | None
    rejection_rate: float | None


class NotificationOut(Schema):
    id: int
    text: str
    url: str
    created_at: datetime
    read_at: datetime | None


def _pipeline(pipeline_id: Id | None) -> Pipeline:
    return row(Pipeline, pipeline_id, "pipeline_id") or default_pipeline()


def _ensure_reads_settings(request: HttpRequest) -> None:
    """SLA settings, intent and assignment rules are for admins, managers and marketing (docs/permissions.md)."""
    if current_user(request).is_sales:
        raise NotAllowed("Sales reps do not see the qualification settings.")


@router.get("/qualification/criteria", response=list[CriterionIO])
def list_criteria(request: HttpRequest, pipeline_id: Id | None = None) -> list[Any]:
    """The pipeline's checklist (the default BANT + ICP fit until an admin saves one): every role reads it."""
    return selectors.criteria_for(_pipeline(pipeline_id))


@router.put("/qualification/criteria", response=list[CriterionIO])
def put_criteria(request: HttpRequest, payload: CriteriaIn) -> list[Any]:
    """Change the checklist: which criteria count, their thresholds, and which accepting or converting requires."""
    items = [item.dict() for item in payload.criteria]
    return services.save_criteria(_pipeline(payload.pipeline_id), items, by=current_user(request))


@router.get("/leads/{lead_id}/qualification", response=LeadQualificationOut, tags=["leads"])
def lead_qualification(request: HttpRequest, lead_id: Id, pipeline_id: Id | None = None) -> dict[str, Any]:
    """Which criteria the lead meets, by what evidence, what is missing; its latest handoff and its owners."""
    lead = get_lead(current_user(request), lead_id)
    return {
        "lead_id": lead.pk,
        "checks": selectors.check_criteria(lead, _pipeline(pipeline_id)),
        "handoff": selectors.latest_handoff(lead),
        "assignments": list(selectors.lead_assignments(lead)),
    }


@router.get("/qualification/intent-rules", response=page_of(IntentRuleOut))
def list_intent_rules(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    _ensure_reads_settings(request)
    return paginate(selectors.intent_rules(), page)


@router.post("/qualification/intent-rules", response={201: IntentRuleOut})
def create_intent_rule(request: HttpRequest, payload: IntentRuleIn) -> Status:
    return Status(201, services.create_intent_rule(by=current_user(request), **payload.dict()))


@router.patch("/qualification/intent-rules/{rule_id}", response=IntentRuleOut)
def update_intent_rule(request: HttpRequest, rule_id: Id, payload: IntentRulePatch) -> IntentRule:
    rule = get_object_or_404(IntentRule, pk=rule_id)
    return services.update_intent_rule(rule, by=current_user(request), **payload.dict(exclude_unset=True))


@router.delete("/qualification/intent-rules/{rule_id}", response={204: None})
def delete_intent_rule(request: HttpRequest, rule_id: Id) -> Status:
    services.delete_intent_rule(get_object_or_404(IntentRule, pk=rule_id), by=current_user(request))
    return Status(204, None)


RULE_REFS = {"user_id": (User, "user"), "team_id": (Team, "team")}


@router.get("/qualification/assignment-rules", response=page_of(AssignmentRuleOut))
def list_assignment_rules(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """The rules in the order they are tried."""
    _ensure_reads_settings(request)
    return paginate(selectors.assignment_rules(), page)


@router.post("/qualification/assignment-rules", response={201: AssignmentRuleOut})
def create_assignment_rule(request: HttpRequest, payload: AssignmentRuleIn) -> Status:
    fields = resolve_ids(payload.dict(), RULE_REFS)
    return Status(201, services.create_assignment_rule(by=current_user(request), **fields))


@router.patch("/qualification/assignment-rules/{rule_id}", response=AssignmentRuleOut)
def update_assignment_rule(request: HttpRequest, rule_id: Id, payload: AssignmentRulePatch) -> AssignmentRule:
    rule = get_object_or_404(AssignmentRule, pk=rule_id)
    fields = resolve_ids(payload.dict(exclude_unset=True), RULE_REFS)
    return services.update_assignment_rule(rule, by=current_user(request), **fields)


@router.post("/qualification/assignment-rules/{rule_id}/move", response={204: None})
def move_assignment_rule(request: HttpRequest, rule_id: Id, payload: RuleMoveIn) -> Status:
    """Try the rule one place earlier (-1) or later (1)."""
    rule = get_object_or_404(AssignmentRule, pk=rule_id)
    services.move_assignment_rule(rule, by=current_user(request), step=payload.step)
    return Status(204, None)


@router.delete("/qualification/assignment-rules/{rule_id}", response={204: None})
def delete_assignment_rule(request: HttpRequest, rule_id: Id) -> Status:
    services.delete_assignment_rule(get_object_or_404(AssignmentRule, pk=rule_id), by=current_user(request))
    return Status(204, None)


@router.post("/qualification/assign", response=AssignOut)
def assign(request: HttpRequest, payload: AssignIn) -> dict[str, int]:
    """Run assignment now (admins and managers); safe beside the workers doing the same."""
    return services.assign_waiting_leads(lead_ids=payload.lead_ids, by=current_user(request))


@router.get("/qualification/settings", response=QualificationSettingsIO)
def get_settings(request: HttpRequest) -> Any:
    _ensure_reads_settings(request)
    return selectors.qualification_settings()


@router.patch("/qualification/settings", response=QualificationSettingsIO)
def patch_settings(request: HttpRequest, payload: SettingsPatch) -> Any:
    """Change the SLA settings (admins); leads arriving from now on get the new clocks."""
    return services.save_settings(by=current_user(request), **payload.dict(exclude_unset=True))


def _queue_user(request: HttpRequest) -> User:
    """The caller, if they work the sales queue: marketing hands leads over and does not see it (as on the web)."""
    user = current_user(request)
    if user.is_marketing:
        raise NotAllowed("The sales queue is for sales; marketing sees each lead's handoff on the lead.")
    return user


@router.get("/queue", response=page_of(HandoffOut))
def sales_queue(
    request: HttpRequest,
    page: Query[PageParams],
    status: Literal["pending", "accepted", "rejected", "closed"] = "pending",
) -> dict[str, Any]:
    """Qualified leads handed to sales that the user may see, the most urgent decision first."""
    return paginate(selectors.sales_queue(_queue_user(request), status=status), page)


@router.post("/handoffs/{handoff_id}/accept", response=HandoffOut)
@may_conflict
def accept(request: HttpRequest, handoff_id: Id) -> Any:
    """Accept a qualified lead (refused, naming them, while criteria required to accept are missing)."""
    user = current_user(request)
    return services.accept_handoff(selectors.get_handoff(user, handoff_id), by=user)


@router.post("/handoffs/{handoff_id}/reject", response=HandoffOut)
@may_conflict
def reject(request: HttpRequest, handoff_id: Id, payload: RejectIn) -> Any:
    """Reject a qualified lead with a reason; it is recycled to marketing's nurture."""
    user = current_user(request)
    return services.reject_handoff(selectors.get_handoff(user, handoff_id), by=user, reason=payload.reason)


@router.post("/sla/check", response=SlaCheckOut)
def sla_check(request: HttpRequest) -> dict[str, int]:
    """Record and notify the breaches due now, as the worker does each minute (admins and managers)."""
    return services.check_slas(by=current_user(request))


@router.get("/sla/breaches", response=page_of(BreachOut))
def sla_breaches(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    return paginate(selectors.sla_breaches(_queue_user(request)), page)


@router.get("/sla/no-lead-lost", response=page_of(AtRiskOut))
def no_lead_lost(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Qualified leads with no owner, no next step, or no touch within the SLA: zero when nothing slips."""
    return paginate(selectors.no_lead_lost(_queue_user(request)), page)


@router.get("/qualification/rates", response=list[RateOut])
def rates(request: HttpRequest, by: Literal["source", "qualified_by", "rule"] = "source") -> list[dict[str, Any]]:
    """Acceptance and rejection rates of handed-over leads per source, way of qualifying, or assignment rule."""
    return selectors.handoff_rates(leads_visible_to(_queue_user(request)), by=by)


@router.get("/notifications", response=page_of(NotificationOut), tags=["users"])
def notifications(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    return paginate(notifications_for(current_user(request)), page)


@router.post("/notifications/read", response={204: None}, tags=["users"])
def read_notifications(request: HttpRequest) -> Status:
    mark_notifications_read(current_user(request))
    return Status(204, None)
