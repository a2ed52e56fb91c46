"""The sales queue: qualified leads handed to sales, accepted or rejected with a reason."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.leads.models import AssignmentHow, Lead, LifecycleStage, StageChange
from leadflow.leads.services import assign_owner, record_lifecycle_change
from leadflow.pipeline.selectors import default_pipeline
from leadflow.scoring.models import LeadScore
from leadflow.users.models import User

from ..models import Handoff, HandoffStatus, QualifiedBy
from ..selectors import business_hours, missing_criteria, qualification_settings
from .assignment import assign_lead

# --- the sales queue ----------------------------------------------------------------------------------------------


def follow_lifecycle(sender: object, *, lead: Lead, change: StageChange, **kwargs: Any) -> None:
    """Keep the sales queue in step with the lifecycle: a new prospect arrives in it (and gets an owner by the
    assignment rules when it has none); a waiting one that is converted counts as accepted, one disqualified or
    recycled as rejected. Connected to `lifecycle_changed`."""
    if change.to_stage == LifecycleStage.PROSPECT:
        handoff = open_handoff(lead, by=change.by, reason=change.reason, at=change.at)
        if lead.owner_id is None:
            assign_lead(lead, handoff=handoff, at=change.at)
        return
    pending = Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING)
    if change.to_stage == LifecycleStage.OPPORTUNITY:
        pending.update(status=HandoffStatus.ACCEPTED, decided_at=change.at, decided_by=change.by)
    elif change.to_stage in (LifecycleStage.DISQUALIFIED, LifecycleStage.RECYCLED):
        pending.update(
            status=HandoffStatus.REJECTED, decided_at=change.at, decided_by=change.by,
            rejection_reason=change.reason[:500],
        )  # fmt: skip


def open_handoff(lead: Lead, *, by: User | None, reason: str, at: datetime) -> Handoff:
    """Put a newly qualified lead in the sales queue with its SLA clock; a rep who qualifies a lead by hand has
    accepted it by doing so."""
    settings = qualification_settings()
    hours = business_hours(settings)
    score = LeadScore.objects.filter(lead=lead).values_list("total", flat=True).first()
    is_hot = score is not None and score >= settings.hot_score
    handoff = Handoff(
        lead=lead,
        arrived_at=at,
        qualified_by=QualifiedBy.BY_HAND if by is not None else QualifiedBy.SCORE,
        reason=reason[:500],
        source=lead.source,
        is_hot=is_hot,
        first_touch_due_at=hours.add(at, settings.hot_first_touch_hours if is_hot else settings.first_touch_hours),
        decision_due_at=hours.add(at, settings.decision_hours),
    )
    if by is not None and by.is_sales:
        handoff.status, handoff.decided_at, handoff.decided_by = HandoffStatus.ACCEPTED, at, by
    Handoff.objects.filter(lead=lead, status=HandoffStatus.PENDING).update(
        status=HandoffStatus.CLOSED, decided_at=at, rejection_reason="Superseded: qualified again"
    )
    handoff.save()
    return handoff


def _pending(handoff: Handoff) -> Handoff:
    handoff = Handoff.objects.select_for_update().select_related("lead").get(pk=handoff.pk)
    if handoff.status != HandoffStatus.PENDING:
        raise Conflict(
            f"This lead was already {handoff.get_status_display().lower()}.", errors={"status": ["Not waiting."]}
        )
    return handoff


def can_decide(handoff: Handoff, user: User) -> bool:
    """Whether the user may accept or reject this waiting lead: its owner, a manager of its team or its owner's,
    an admin, or a rep of its team while it has no owner (taking it from the queue); never marketing."""
    lead = handoff.lead
    if user.is_marketing or handoff.status != HandoffStatus.PENDING:
        return False
    if user.is_admin or lead.owner_id == user.pk:
        return True
    if user.is_manager and user.team_id is not None:
        return user.team_id in (lead.team_id, getattr(lead.owner, "team_id", None))
    return user.is_sales and lead.owner_id is None and user.team_id is not None and lead.team_id == user.team_id


def _ensure_can_decide(handoff: Handoff, by: User) -> None:
    if by.is_marketing:
        raise NotAllowed("Sales accepts or rejects qualified leads, not marketing.")
    if not can_decide(handoff, by):
        raise NotAllowed("Only the lead's owner or their manager may accept or reject it.")


@transaction.atomic
def accept_handoff(handoff: Handoff, *, by: User) -> Handoff:
    """Sales accepts a qualified lead (a rep taking it from the team queue becomes its owner); refused while the
    lead lacks a criterion required to accept, each named."""
    handoff = _pending(handoff)
    _ensure_can_decide(handoff, by)
    lead = handoff.lead
    missing = missing_criteria(lead, default_pipeline(), to_convert=False)
    if missing:
        raise Conflict(
            f"The lead cannot be accepted yet: {'; '.join(missing)}.",
            errors={"qualification": missing},
            extra={"missing": missing},
        )
    if lead.owner_id is None and by.is_sales:
        assign_owner(lead, by, by=by, how=AssignmentHow.BY_HAND)
    handoff.status, handoff.decided_at, handoff.decided_by = HandoffStatus.ACCEPTED, timezone.now(), by
    handoff.save(update_fields=["status", "decided_at", "decided_by"])
    return handoff


@transaction.atomic
def reject_handoff(handoff: Handoff, *, by: User, reason: str) -> Handoff:
    """Sales rejects a qualified lead with a reason: it goes back to marketing's nurture as `recycled`."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput.on("reason", "Say why the lead is rejected.")
    handoff = _pending(handoff)
    _ensure_can_decide(handoff, by)
    handoff.status, handoff.decided_at, handoff.decided_by = HandoffStatus.REJECTED, timezone.now(), by
    handoff.rejection_reason = reason[:500]
    handoff.save(update_fields=["status", "decided_at", "decided_by", "rejection_reason"])
    lead = Lead.objects.select_for_update().get(pk=handoff.lead_id)
    if lead.lifecycle_stage == LifecycleStage.PROSPECT:
        record_lifecycle_change(lead, to=LifecycleStage.RECYCLED, by=by, reason=f"Rejected by sales: {reason}")
    return handoff
