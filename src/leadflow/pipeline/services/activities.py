"""Activities and tasks logged on leads and opportunities."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from leadflow.errors import InvalidInput, NotAllowed, save_or_conflict
from leadflow.leads.models import Lead
from leadflow.users.models import User

from ..models import Activity, ActivityKind, Opportunity

ACTIVITY_FIELDS = {"kind", "subject", "body", "due_at", "is_done", "outcome", "owner", "external_id"}


def _clean_activity(activity: Activity) -> None:
    if activity.kind not in ActivityKind.values:
        raise InvalidInput.on("kind", f"Must be one of: {', '.join(ActivityKind.values)}.")
    activity.subject = (activity.subject or "").strip()
    if not activity.subject:
        raise InvalidInput.on("subject", "This field is required.")
    if activity.lead_id is None and activity.opportunity_id is None:
        raise InvalidInput.on("lead_id", "An activity belongs to a lead or an opportunity.")
    if activity.opportunity_id and activity.lead_id is None:
        activity.lead_id = activity.opportunity.lead_id  # type: ignore[union-attr]
    if activity.is_done and activity.done_at is None:
        activity.done_at = timezone.now()
    if not activity.is_done:
        activity.done_at = None
    activity.external_id = (activity.external_id or "").strip() or None


def _touch_lead(activity: Activity) -> None:
    """A finished activity is the lead's latest activity, if it is later than what the lead had."""
    if activity.is_done and activity.lead_id is not None and activity.done_at is not None:
        Lead.objects.filter(pk=activity.lead_id).exclude(last_activity_at__gte=activity.done_at).update(
            last_activity_at=activity.done_at
        )


@transaction.atomic
def log_activity(
    *,
    by: User,
    kind: str,
    subject: str,
    lead: Lead | None = None,
    opportunity: Opportunity | None = None,
    done_at: datetime | None = None,
    **fields: Any,
) -> Activity:
    """Log a call, email, meeting, demo or note (done unless said otherwise), or plan a task; the owner is the
    author unless given."""
    unknown = set(fields) - ACTIVITY_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    if opportunity is not None and lead is not None and opportunity.lead_id not in (None, lead.pk):
        raise InvalidInput.on("lead_id", "The opportunity belongs to another lead.")
    fields.setdefault("owner", by)
    fields.setdefault("is_done", kind != ActivityKind.TASK)  # a logged call or email happened; a task is planned
    activity = Activity(kind=kind, subject=subject, lead=lead, opportunity=opportunity, done_at=done_at, **fields)
    _clean_activity(activity)
    save_or_conflict(activity)
    _touch_lead(activity)
    return activity


def _ensure_can_change_activity(activity: Activity, by: User) -> None:
    if not (by.is_admin or by.is_manager or activity.owner_id in (None, by.pk)):
        raise NotAllowed("Only the activity's owner or a manager may change it.")


@transaction.atomic
def update_activity(activity: Activity, *, by: User, **fields: Any) -> Activity:
    """Change an activity; marking it done time-stamps it and counts as the lead's latest activity."""
    _ensure_can_change_activity(activity, by)
    unknown = set(fields) - ACTIVITY_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    for name, value in fields.items():
        setattr(activity, name, value)
    _clean_activity(activity)
    save_or_conflict(activity)
    _touch_lead(activity)
    return activity


def delete_activity(activity: Activity, *, by: User) -> None:
    _ensure_can_change_activity(activity, by)
    activity.delete()
