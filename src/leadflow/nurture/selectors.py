"""Reads for nurture: settings, segment members and counts, branch conditions, template previews and the
per-sequence and per-step figures."""

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from leadflow.engagement.models import Event
from leadflow.errors import InvalidInput
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.selectors import leads_visible_to
from leadflow.scoring.models import LeadScore
from leadflow.users.models import User

from .emails import RenderedEmail, merge_fields, render_email
from .models import (
    Delivery,
    DeliveryStatus,
    EmailTemplate,
    Enrolment,
    EnrolmentStatus,
    NurtureSettings,
    Segment,
    Sequence,
    Step,
)
from .segments import leads_matching

NURTURED = (LifecycleStage.LEAD, LifecycleStage.PROSPECT, LifecycleStage.RECYCLED)


def nurture_settings() -> NurtureSettings:
    return NurtureSettings.objects.filter(pk=1).first() or NurtureSettings(pk=1)


def leads_in_segment(segment: Segment, *, at: datetime | None = None) -> QuerySet[Lead]:
    """The open leads (lead, prospect, recycled) that meet the segment's conditions now."""
    matching = leads_matching(segment.conditions, segment.match, at or timezone.now())
    return matching.filter(lifecycle_stage__in=NURTURED)


def filter_by_segment(leads: QuerySet[Lead], segment: Segment, *, at: datetime | None = None) -> QuerySet[Lead]:
    """Of these leads, those that meet the segment's conditions (the leads list's segment filter)."""
    return leads.filter(pk__in=leads_matching(segment.conditions, segment.match, at or timezone.now()).values("pk"))


def segment_preview(segment: Segment, user: User, *, limit: int = 10) -> dict[str, Any]:
    """The live count and the first few leads the user may see of a segment."""
    members = leads_in_segment(segment).filter(pk__in=leads_visible_to(user).values("pk"))
    return {"count": members.count(), "sample": list(members.select_related("contact", "owner")[:limit])}


def branch_holds(condition: dict[str, Any], enrolment: Enrolment, at: datetime) -> bool:
    """Whether the lead did what a branch step asks: opened or clicked this sequence's emails, visited a page
    (within N days), scores above a number, or has a field equal to a value."""
    kind, lead = condition["kind"], enrolment.lead
    if kind in ("opened", "clicked"):
        column = "opened_at" if kind == "opened" else "clicked_at"
        return Delivery.objects.filter(enrolment=enrolment, **{f"{column}__isnull": False}).exists()
    if kind == "visited":
        since = at - timedelta(days=condition.get("within_days", 30))
        visits = Event.objects.filter(lead=lead, occurred_at__gte=since, type__in=["page_visit", "pricing_page_view"])
        page = condition.get("page", "")
        return visits.filter(properties__page__icontains=page).exists() if page else visits.exists()
    if kind == "score_above":
        total = LeadScore.objects.filter(lead=lead).values_list("total", flat=True).first()
        return total is not None and total > float(condition.get("value", 0))
    field = condition.get("field", "")
    return field in ("source", "lifecycle_stage", "authority") and str(getattr(lead, field)) == str(
        condition.get("value")
    )


def preview_email(template: EmailTemplate, lead: Lead) -> RenderedEmail:
    """The template as this lead would get it (no tracking)."""
    return render_email(template.subject, template.body, merge_fields(lead), delivery_id=None)


def sequence_stats(sequence: Sequence) -> dict[str, Any]:
    """Enrolled, active, completed, exited; per step: sent, opened, clicked, replied (A and B apart for a test);
    and the enrolled leads that became prospects or opportunities since they entered."""
    enrolments = sequence.enrolments.aggregate(
        enrolled=Count("pk"),
        active=Count("pk", filter=Q(status=EnrolmentStatus.ACTIVE)),
        completed=Count("pk", filter=Q(status=EnrolmentStatus.COMPLETED)),
        exited=Count("pk", filter=Q(status=EnrolmentStatus.EXITED)),
    )
    sent = Q(status=DeliveryStatus.SENT)
    steps = (
        Delivery.objects.filter(step__sequence=sequence)
        .values("step__position", "variant")
        .annotate(
            queued=Count("pk", filter=Q(status=DeliveryStatus.QUEUED)),
            sent=Count("pk", filter=sent),
            suppressed=Count("pk", filter=Q(status=DeliveryStatus.SUPPRESSED)),
            opened=Count("pk", filter=sent & Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=sent & Q(clicked_at__isnull=False)),
            replied=Count("pk", filter=sent & Q(replied_at__isnull=False)),
        )
        .order_by("step__position", "variant")
    )
    converted = {
        stage: sequence.enrolments.filter(
            lead__stage_changes__to_stage=stage, lead__stage_changes__at__gte=F("entered_at")
        )
        .values("lead")
        .distinct()
        .count()
        for stage in (LifecycleStage.PROSPECT, LifecycleStage.OPPORTUNITY)
    }
    return {
        **enrolments,
        "steps": list(steps),
        "became_prospect": converted[LifecycleStage.PROSPECT],
        "became_opportunity": converted[LifecycleStage.OPPORTUNITY],
    }


def sequence_totals(sequence_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per sequence, in three queries: steps; enrolled, active, completed, exited; sent, opened, clicked."""
    totals: dict[int, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("steps", "enrolled", "active", "completed", "exited", "sent", "opened", "clicked"), 0)
    )
    for row in Step.objects.filter(sequence__in=sequence_ids).values("sequence").annotate(steps=Count("pk")):
        totals[row.pop("sequence")].update(row)
    enrolments = Enrolment.objects.filter(sequence__in=sequence_ids).values("sequence")
    for row in enrolments.annotate(
        enrolled=Count("pk"),
        active=Count("pk", filter=Q(status=EnrolmentStatus.ACTIVE)),
        completed=Count("pk", filter=Q(status=EnrolmentStatus.COMPLETED)),
        exited=Count("pk", filter=Q(status=EnrolmentStatus.EXITED)),
    ).order_by():
        totals[row.pop("sequence")].update(row)
    sent = Delivery.objects.filter(step__sequence__in=sequence_ids, status=DeliveryStatus.SENT)
    for row in (
        sent.values("step__sequence")
        .annotate(
            sent=Count("pk"),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
        )
        .order_by()
    ):
        totals[row.pop("step__sequence")].update(row)
    return {sequence_id: totals[sequence_id] for sequence_id in sequence_ids}


def leads_by_ids(user: User, lead_ids: list[int]) -> list[Lead]:
    """The leads with these ids, or an error on `lead_ids` naming one the user cannot see (or that does not
    exist)."""
    leads = list(leads_visible_to(user).filter(pk__in=lead_ids).select_related("contact"))
    missing = sorted(set(lead_ids) - {lead.pk for lead in leads})
    if missing:
        raise InvalidInput.on("lead_ids", f"No lead with id {missing[0]}.")
    return leads
