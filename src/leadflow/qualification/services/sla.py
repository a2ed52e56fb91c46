"""Response-time SLAs: their settings, and the check that flags, notifies and reassigns missed ones."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.db.models import F, Min, OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from leadflow.errors import InvalidInput
from leadflow.leads.models import AssignmentHow, Lead
from leadflow.leads.selectors import people_to_tell
from leadflow.leads.services import assign_owner
from leadflow.pipeline.models import Activity
from leadflow.users.models import User
from leadflow.users.services import ensure_admin, notify

from ..models import Handoff, HandoffStatus, QualificationSettings, SlaBreach, SlaKind
from ..selectors import TOUCHES, qualification_settings
from .assignment import _optional_int, assign_lead, ensure_can_edit_assignment

# --- SLAs ---------------------------------------------------------------------------------------------------------

# Handoffs no one owes a first touch: sales rejected them, or they were closed (qualified again, merged).
UNWORKED = (HandoffStatus.REJECTED, HandoffStatus.CLOSED)

SETTINGS_FIELDS = {
    "hot_score", "hot_first_touch_hours", "first_touch_hours", "decision_hours", "day_starts", "day_ends",
    "business_days", "time_zone", "reassign_on_breach",
}  # fmt: skip


@transaction.atomic
def save_settings(*, by: User, **fields: Any) -> QualificationSettings:
    """Change the SLA settings; applies to leads that arrive from now on."""
    ensure_admin(by)
    unknown = set(fields) - SETTINGS_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    settings = qualification_settings()
    for name in ("hot_first_touch_hours", "first_touch_hours", "decision_hours"):
        if name in fields:
            try:
                hours = float(fields[name])
            except (TypeError, ValueError):
                raise InvalidInput.on(name, "Must be a number of hours.") from None
            if not 0 < hours <= 24 * 30:
                raise InvalidInput.on(name, "Must be more than 0 and at most 720 hours.")
            setattr(settings, name, hours)
    for name, low, high in (("hot_score", -1000, 1000), ("day_starts", 0, 23), ("day_ends", 1, 24)):
        if name in fields:
            number = _optional_int(fields[name], name)
            if number is None or not low <= number <= high:
                raise InvalidInput.on(name, f"Must be a whole number from {low} to {high}.")
            setattr(settings, name, number)
    if settings.day_starts >= settings.day_ends:
        raise InvalidInput.on("day_ends", "The business day must end after it starts.")
    if "business_days" in fields:
        days = fields["business_days"]
        if not isinstance(days, list | tuple) or not days or any(day not in range(7) for day in days):
            raise InvalidInput.on("business_days", "Give at least one weekday, Monday = 0 … Sunday = 6.")
        settings.business_days = sorted(set(days))
    if "time_zone" in fields:
        try:
            ZoneInfo(str(fields["time_zone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput.on("time_zone", "Not a time zone, e.g. Europe/Berlin.") from None
        settings.time_zone = str(fields["time_zone"])
    if "reassign_on_breach" in fields:
        settings.reassign_on_breach = bool(fields["reassign_on_breach"])
    settings.save()
    return settings


def _record_first_touches() -> None:
    first = (
        Activity.objects.filter(
            lead=OuterRef("lead_id"), kind__in=TOUCHES, is_done=True, done_at__gte=OuterRef("arrived_at")
        )
        .values("lead")
        .annotate(first=Min("done_at"))
        .values("first")
    )
    Handoff.objects.filter(first_touched_at__isnull=True).exclude(status__in=UNWORKED).update(
        first_touched_at=Subquery(first)
    )


def _due_breaches(at: datetime) -> list[tuple[int, SlaKind, datetime]]:
    missed_touch = (
        Handoff.objects.exclude(status__in=UNWORKED)
        .filter(first_touch_due_at__lt=at)
        .exclude(first_touched_at__lte=F("first_touch_due_at"))
        .exclude(breaches__kind=SlaKind.FIRST_TOUCH)
        .values_list("pk", "first_touch_due_at")
    )
    undecided = (
        Handoff.objects.filter(status=HandoffStatus.PENDING, decision_due_at__lt=at)
        .exclude(breaches__kind=SlaKind.DECISION)
        .values_list("pk", "decision_due_at")
    )
    return [(pk, SlaKind.FIRST_TOUCH, due) for pk, due in missed_touch] + [
        (pk, SlaKind.DECISION, due) for pk, due in undecided
    ]


def check_slas(*, at: datetime | None = None, by: User | None = None) -> dict[str, int]:
    """Flag every response time missed as of `at` (now): one breach row per handoff and kind, however many workers
    check at once; notify the owner and their managers (in the app and by email); reassign a lead whose first
    touch was missed when the settings say so. A person asking (`by`) must be an admin or a manager. Returns
    {"first_touch", "decision", "reassigned"} counts."""
    if by is not None:
        ensure_can_edit_assignment(by)
    at = at or timezone.now()
    settings = qualification_settings()
    _record_first_touches()
    counts = {SlaKind.FIRST_TOUCH: 0, SlaKind.DECISION: 0, "reassigned": 0}
    for handoff_id, kind, due in _due_breaches(at):
        try:
            with transaction.atomic():
                handoff = Handoff.objects.get(pk=handoff_id)
                lead = (
                    Lead.objects.select_for_update(of=("self",))
                    .select_related("owner", "contact__account__owner")
                    .get(pk=handoff.lead_id)
                )
                breach = SlaBreach.objects.create(
                    handoff=handoff, kind=kind, due_at=due, detected_at=at, owner=lead.owner
                )
                _tell_about(breach, lead, settings)
                if kind == SlaKind.FIRST_TOUCH and settings.reassign_on_breach and lead.owner_id is not None:
                    breach.reassigned_to = _reassign(lead, at=at)
                    breach.save(update_fields=["reassigned_to"])
                    counts["reassigned"] += breach.reassigned_to is not None
        except IntegrityError:
            continue  # another worker recorded this breach first
        counts[kind] += 1
    return {str(kind): count for kind, count in counts.items()}


def _reassign(lead: Lead, *, at: datetime) -> User | None:
    """Take the lead from the owner who missed its SLA and let the rules choose someone else."""
    missed_by = lead.owner_id
    assert missed_by is not None
    assign_owner(lead, None, by=None, how=AssignmentHow.SLA_BREACH, at=at)
    owner = assign_lead(lead, at=at, exclude={missed_by})
    return owner


def _tell_about(breach: SlaBreach, lead: Lead, settings: QualificationSettings) -> None:
    handoff = breach.handoff
    if breach.kind == SlaKind.FIRST_TOUCH:
        hours = settings.hot_first_touch_hours if handoff.is_hot else settings.first_touch_hours
        what = f"not touched within {hours:g} business hour{'s' if hours != 1 else ''}"
    else:
        what = f"not accepted or rejected within {settings.decision_hours:g} business hours"
    local_due = timezone.localtime(breach.due_at, ZoneInfo(settings.time_zone))
    text = (
        f"SLA missed: {lead.contact} ({lead.company_name or 'no company'}) {what} (due {local_due:%a %d %b %Y %H:%M})."
    )
    notify(people_to_tell(lead), text, url=reverse("web:lead", args=[lead.pk]), subject=f"SLA missed: {lead.contact}")
