"""Reads of pipelines, opportunities and activities, filtered by what the user may see."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.http import Http404
from django.utils import timezone

from leadflow.engagement.selectors import describe, lead_events
from leadflow.leads.models import Lead
from leadflow.leads.selectors import leads_visible_to, team_scope
from leadflow.users.models import User

from .models import Activity, Opportunity, OpportunityStageChange, Pipeline, Stage

BACKTEST_MONTHS = 6  # month starts the forecast backtest looks back over (the worker keeps snapshots of them)


def can_see_amounts(user: User) -> bool:
    """Marketing works leads, not deals: they see opportunities but not what they are worth."""
    return not user.is_marketing


def default_pipeline() -> Pipeline:
    pipeline = Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.order_by("id").first()
    if pipeline is None:
        raise Http404("No pipeline is configured.")
    return pipeline


def pipelines_with_stages() -> QuerySet[Pipeline]:
    return Pipeline.objects.prefetch_related(Prefetch("stages", queryset=Stage.objects.order_by("order")))


def opportunities_visible_to(user: User) -> QuerySet[Opportunity]:
    """Every opportunity the user may see."""
    return Opportunity.objects.filter(team_scope(user, owner_field="owner", team_field="team"))


def opportunity_list(
    user: User,
    *,
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    owner_id: int | None = None,
    account_id: int | None = None,
    is_open: bool | None = None,
    search: str | None = None,
) -> QuerySet[Opportunity]:
    """Visible opportunities with their stage, account, contact and owner, filtered."""
    opportunities = opportunities_visible_to(user).select_related(
        "stage", "pipeline", "account", "contact", "owner", "lost_reason"
    )
    if pipeline_id is not None:
        opportunities = opportunities.filter(pipeline_id=pipeline_id)
    if stage_id is not None:
        opportunities = opportunities.filter(stage_id=stage_id)
    if owner_id is not None:
        opportunities = opportunities.filter(owner_id=owner_id)
    if account_id is not None:
        opportunities = opportunities.filter(account_id=account_id)
    if is_open is not None:
        closed = Q(stage__is_won=True) | Q(stage__is_lost=True)
        opportunities = opportunities.exclude(closed) if is_open else opportunities.filter(closed)
    if search:
        term = search.strip()
        opportunities = opportunities.filter(Q(name__icontains=term) | Q(account__name__icontains=term))
    return opportunities


def get_opportunity(user: User, opportunity_id: int) -> Opportunity:
    """The opportunity if the user may see it; otherwise it does not exist for them."""
    opportunity = opportunity_list(user).filter(pk=opportunity_id).first()
    if opportunity is None:
        raise Http404("No such opportunity.")
    return opportunity


def opportunity_stage_changes(opportunity: Opportunity) -> QuerySet[OpportunityStageChange]:
    return opportunity.stage_changes.select_related("from_stage", "to_stage", "by").order_by("at", "id")


def newest_move(pipeline: Pipeline, moves: QuerySet[OpportunityStageChange] | None = None) -> datetime | None:
    """When the newest of these moves (by default, any) in the pipeline was made. It is some deal's current spell,
    so each stage's newest is one probe of the current-spell index, not a pass over every deal."""
    current = (OpportunityStageChange.objects if moves is None else moves).filter(left_at__isnull=True)
    newest = current.filter(to_stage=OuterRef("pk")).order_by("-at").values("at")[:1]
    return pipeline.stages.annotate(newest=Subquery(newest)).aggregate(latest=Max("newest"))["latest"]


def open_spells(pipeline: Pipeline) -> QuerySet[OpportunityStageChange]:
    """The spells in the pipeline's open stages."""
    return OpportunityStageChange.objects.filter(to_stage__in=list(pipeline.stages.filter(is_won=False, is_lost=False)))


def spell_covers(moment: datetime) -> Q:
    """Spells under way at the moment: begun by then and not yet ended. Of a pipeline's open spells, one for each
    deal open then, in the stage it was in."""
    return Q(at__lte=moment) & (Q(left_at__isnull=True) | Q(left_at__gt=moment))


def month_starts(latest: datetime, count: int) -> list[datetime]:
    """The first moments, in the site's time zone, of `count` months, oldest first, the last being `latest`'s."""
    month = timezone.localtime(latest).date().replace(day=1)
    days = []
    for _ in range(count):
        days.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    return [timezone.make_aware(datetime.combine(day, time.min)) for day in reversed(days)]


def activities_visible_to(user: User) -> QuerySet[Activity]:
    """Activities the user owns, or that belong to a lead or opportunity they may see."""
    if user.is_admin or user.is_marketing:
        return Activity.objects.all()
    return Activity.objects.filter(
        Q(owner=user)
        | Q(lead__in=leads_visible_to(user).values("pk"))
        | Q(opportunity__in=opportunities_visible_to(user).values("pk"))
    )


def activity_list(
    user: User,
    *,
    lead_id: int | None = None,
    opportunity_id: int | None = None,
    kind: str | None = None,
    is_done: bool | None = None,
    owner_id: int | None = None,
) -> QuerySet[Activity]:
    activities = activities_visible_to(user).select_related("owner")
    if lead_id is not None:
        activities = activities.filter(lead_id=lead_id)
    if opportunity_id is not None:
        activities = activities.filter(opportunity_id=opportunity_id)
    if kind:
        activities = activities.filter(kind=kind)
    if is_done is not None:
        activities = activities.filter(is_done=is_done)
    if owner_id is not None:
        activities = activities.filter(owner_id=owner_id)
    return activities


def get_activity(user: User, activity_id: int) -> Activity:
    activity = activities_visible_to(user).filter(pk=activity_id).first()
    if activity is None:
        raise Http404("No such activity.")
    return activity


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a lead, for its timeline."""

    at: datetime
    kind: str  # "stage", "deal", "activity" (later: "event", "email")
    title: str
    detail: str = ""
    by: str = ""


def lead_timeline(lead: Lead, *, limit: int = 200) -> list[TimelineEntry]:
    """Everything that happened to the lead — lifecycle steps, deal moves, activities, engagement events — newest
    first."""
    entries = [
        TimelineEntry(
            at=change.at,
            kind="stage",
            title=f"{change.get_from_stage_display() or 'Captured'} → {change.get_to_stage_display()}"
            if change.from_stage
            else "Captured as a lead",
            detail=change.reason if change.from_stage else "",
            by=str(change.by or ""),
        )
        for change in lead.stage_changes.select_related("by").order_by("-at", "-id")[:limit]
    ]
    deal_moves = (
        OpportunityStageChange.objects.filter(opportunity__lead=lead)
        .select_related("opportunity", "from_stage", "to_stage", "by")
        .order_by("-at", "-id")[:limit]
    )
    entries += [
        TimelineEntry(
            at=move.at,
            kind="deal",
            title=f"{move.opportunity.name}: {move.from_stage.name} → {move.to_stage.name}"
            if move.from_stage
            else f"Opportunity opened: {move.opportunity.name}",
            detail=move.reason if move.from_stage else "",
            by=str(move.by or ""),
        )
        for move in deal_moves
    ]
    activities = Activity.objects.filter(Q(lead=lead) | Q(opportunity__lead=lead)).select_related("owner")
    entries += [
        TimelineEntry(
            at=activity.done_at or activity.created_at,
            kind="activity",
            title=f"{activity.get_kind_display()}: {activity.subject}"
            + ("" if activity.is_done or activity.kind != "task" else " (open)"),
            detail=" — ".join(part for part in (activity.outcome.replace("_", " "), activity.body) if part),
            by=str(activity.owner or ""),
        )
        for activity in activities.order_by("-created_at", "-id")[:limit]
    ]
    entries += [
        TimelineEntry(at=event.occurred_at, kind="event", title=describe(event), detail=f"via {event.source}", by="")
        for event in lead_events(lead, limit=limit)
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


def next_task(lead: Lead) -> Activity | None:
    """The lead's open task that is due first."""
    return (
        Activity.objects.filter(lead=lead, kind="task", is_done=False)
        .order_by(F("due_at").asc(nulls_last=True), "id")
        .first()
    )


@dataclass
class BoardColumn:
    stage: Stage
    count: int
    total: Decimal
    cards: list[Opportunity]

    @property
    def more(self) -> int:
        return self.count - len(self.cards)


def pipeline_board(
    user: User,
    pipeline: Pipeline,
    *,
    owner_id: int | None = None,
    close_month: date | None = None,
    cards_per_stage: int = 40,
) -> list[BoardColumn]:
    """The Kanban board: per stage, the count and total value of visible deals and the first cards."""
    deals = opportunity_list(user, pipeline_id=pipeline.pk, owner_id=owner_id)
    if close_month is not None:
        deals = deals.filter(
            Q(
                closed_at__isnull=True,
                expected_close_date__year=close_month.year,
                expected_close_date__month=close_month.month,
            )
            | Q(closed_at__year=close_month.year, closed_at__month=close_month.month)
        )
    totals = {
        row["stage_id"]: row
        for row in deals.order_by().values("stage_id").annotate(count=Count("id"), total=Sum("amount"))
    }
    columns = []
    for stage in pipeline.stages.order_by("order"):
        summary = totals.get(stage.pk, {"count": 0, "total": Decimal(0)})
        ordering = ("-closed_at", "-id") if stage.is_closed else ("expected_close_date", "id")
        cards = list(deals.filter(stage=stage).order_by(*ordering)[:cards_per_stage]) if summary["count"] else []
        columns.append(BoardColumn(stage, summary["count"], summary["total"] or Decimal(0), cards))
    return columns


@dataclass(frozen=True)
class StageSpell:
    """A stretch of time an opportunity spent in one stage."""

    stage: Stage
    entered_at: datetime
    left_at: datetime | None
    by: str
    reason: str

    @property
    def days(self) -> float:
        end = self.left_at or timezone.now()
        return round((end - self.entered_at).total_seconds() / 86400, 1)


def stage_spells(opportunity: Opportunity) -> list[StageSpell]:
    """The opportunity's stage history as spells with the days spent in each, oldest first."""
    changes = list(opportunity_stage_changes(opportunity))
    spells = []
    for index, change in enumerate(changes):
        following = changes[index + 1] if index + 1 < len(changes) else None
        left_at = following.at if following else (change.at if change.to_stage.is_closed else None)
        spells.append(StageSpell(change.to_stage, change.at, left_at, str(change.by or ""), change.reason))
    return spells


def tasks_due(user: User, *, until: datetime) -> QuerySet[Activity]:
    """The user's open tasks due before `until`, oldest due first."""
    return (
        Activity.objects.filter(owner=user, is_done=False, due_at__lt=until)
        .select_related("lead__contact", "opportunity")
        .order_by("due_at", "id")
    )
