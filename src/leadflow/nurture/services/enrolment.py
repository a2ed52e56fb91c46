"""Enrolling leads into sequences: by hand, and the worker's continuous enrolment from segments."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from leadflow.errors import Conflict
from leadflow.leads.models import Lead
from leadflow.users.models import User

from ..models import Enrolment, EnrolmentStatus, Sequence
from ..selectors import leads_in_segment
from .authoring import ensure_can_nurture

# --- enrolment ----------------------------------------------------------------------------------------------------


def _may_enter(sequence: Sequence, lead_ids: Iterable[int], at: datetime) -> list[int]:
    """Of these leads, those the sequence's re-entry rule lets in now (none already active in it)."""
    ids = set(lead_ids)
    past = Enrolment.objects.filter(sequence=sequence, lead__in=ids)
    active = set(past.filter(status=EnrolmentStatus.ACTIVE).values_list("lead", flat=True))
    if not sequence.allow_reentry:
        barred = set(past.values_list("lead", flat=True))
    else:
        since = at - timedelta(days=sequence.reentry_after_days or 0)
        barred = active | set(past.filter(finished_at__gt=since).values_list("lead", flat=True))
    return sorted(ids - barred - active)


def enrol(sequence: Sequence, lead_ids: Iterable[int], *, by: User | None, at: datetime) -> int:
    """Enrol those of the leads the re-entry rule lets in, due at once (`by`: who asked, None for the segment);
    callers check who may. Returns how many."""
    entering = _may_enter(sequence, lead_ids, at)
    rows = [Enrolment(sequence=sequence, lead_id=lead, enrolled_by=by, entered_at=at, due_at=at) for lead in entering]
    Enrolment.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


@transaction.atomic
def enrol_leads(sequence: Sequence, leads: Iterable[Lead], *, by: User) -> int:
    """Enrol leads by hand; those the re-entry rule keeps out (or already in it) are skipped. Returns how many."""
    ensure_can_nurture(by)
    if not sequence.is_active:
        raise Conflict("Start the sequence before enrolling leads.", errors={"sequence": ["Not active."]})
    return enrol(sequence, [lead.pk for lead in leads], by=by, at=timezone.now())


def enrol_from_segments(*, at: datetime | None = None) -> int:
    """The worker's chore: enrol into each active sequence the open leads of its segment that may enter it."""
    at = at or timezone.now()
    enrolled = 0
    for sequence in Sequence.objects.filter(is_active=True, segment__isnull=False).select_related("segment"):
        assert sequence.segment is not None
        candidates = leads_in_segment(sequence.segment, at=at).exclude(
            enrolments__sequence=sequence, enrolments__status=EnrolmentStatus.ACTIVE
        )
        ids = list(candidates.values_list("pk", flat=True)[:10000])
        with transaction.atomic():
            enrolled += enrol(sequence, ids, by=None, at=at)
    return enrolled
