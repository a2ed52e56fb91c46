"""Losses and reviews: why deals are lost, and the weekly pipeline review between two snapshots."""

from dataclasses import replace
from datetime import date
from typing import Any

from django.db.models import BooleanField, Case, Count, F, FilteredRelation, Q, Sum, Value, When, Window
from django.db.models.functions import RowNumber

from leadflow.pipeline.models import Opportunity, Pipeline

from ..models import PipelineSnapshot, SnapshotDeal
from .scope import Scope, _history


def losses(scope: Scope) -> dict[str, Any]:
    """Why deals are lost, and what the won/lost reviews say."""
    lost = scope.deals().filter(stage__is_lost=True)
    reasons = [
        {"reason": row["lost_reason__name"] or "(none)", "deals": row["n"], "value": float(row["value"] or 0)}
        for row in lost.values("lost_reason__name").annotate(n=Count("id"), value=Sum("amount")).order_by("-n")
    ]
    reviews = [
        {"id": pk, "name": name, "won": won, "note": note}
        for pk, name, won, note in scope.deals()
        .filter(closed_at__isnull=False)
        .exclude(review_note="")
        .order_by("-closed_at")
        .values_list("pk", "name", "stage__is_won", "review_note")[:50]
    ]
    return {"reasons": reasons, "reviews": reviews}


REVIEW_CATEGORIES = ("new", "advanced", "slipped", "won", "lost")


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def pipeline_review(scope: Scope, pipeline: Pipeline, *, limit: int = 25) -> dict[str, Any]:
    """The weekly review: what changed between two snapshots of the pipeline (the latest and the one before it;
    or the first on/after `scope.since` and the last on/before `scope.until`). New: in the later snapshot only.
    Advanced: open before, further along now. Slipped: open in both, expected close moved out. Won, lost: open
    before, closed now. Counts and values per category, and the biggest deals of each."""
    snapshots = PipelineSnapshot.objects.filter(pipeline=pipeline)
    later = snapshots.filter(week_of__lte=scope.until).first() if scope.until else snapshots.first()
    earlier_pool = snapshots.filter(week_of__lt=later.week_of) if later else snapshots.none()
    if scope.since:
        earlier = earlier_pool.filter(week_of__gte=scope.since).order_by("week_of").first()
    else:
        earlier = earlier_pool.first()
    document: dict[str, Any] = {
        "earlier": earlier.week_of.isoformat() if earlier else None,
        "later": later.week_of.isoformat() if later else None,
        "categories": [],
    }
    if earlier is None or later is None:
        document["message"] = "A review needs two weekly snapshots of this pipeline; the worker takes one each week."
        return document
    # The slice (owner, team, source) applies; the creation period does not: it chose the snapshots.
    visible = replace(scope, since=None, until=None).deals()
    stages = list(pipeline.stages.all())
    open_ids = [stage.pk for stage in stages if not stage.is_closed]
    was_open = Q(before__stage__in=open_ids)
    still_open = was_open & Q(stage__in=open_ids)
    rows = (
        _history(SnapshotDeal, "opportunity", visible, snapshot=later)
        .annotate(before=FilteredRelation("same_deal", condition=Q(same_deal__snapshot=earlier)))
        .annotate(
            change=Case(
                When(before__id__isnull=True, then=Value("new")),
                When(was_open & Q(stage__in=[s.pk for s in stages if s.is_won]), then=Value("won")),
                When(was_open & Q(stage__in=[s.pk for s in stages if s.is_lost]), then=Value("lost")),
                When(still_open & Q(stage__order__gt=F("before__stage__order")), then=Value("advanced")),
                default=Value(""),
            ),
            slipped=Case(
                When(still_open & Q(expected_close_date__gt=F("before__expected_close_date")), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            close_before=F("before__expected_close_date"),
        )
        .exclude(change="", slipped=False)  # windows below run over the changed deals only
    )

    def ranked(partition: str) -> dict[str, Window]:
        def over(function: Any) -> Window:
            return Window(function, partition_by=[F(partition)], order_by=[F("amount").desc(), F("opportunity")])

        return {
            f"{partition}_place": over(RowNumber()),
            f"{partition}_deals": Window(Count("id"), partition_by=[F(partition)]),
            f"{partition}_value": Window(Sum("amount"), partition_by=[F(partition)]),
        }

    top = (
        rows.annotate(**ranked("change"), **ranked("slipped"))
        .filter(Q(change_place__lte=limit) & ~Q(change="") | Q(slipped_place__lte=limit, slipped=True))
        .order_by("-amount", "opportunity")
        .values(
            "opportunity", "stage", "amount", "expected_close_date", "close_before", "change", "slipped",
            *ranked("change"), *ranked("slipped"),
        )
    )  # fmt: skip
    top = list(top)  # the names are looked up for these few rows only, not joined to every deal
    names = dict(Opportunity.objects.filter(pk__in=[row["opportunity"] for row in top]).values_list("pk", "name"))
    stage_names = {stage.pk: stage.name for stage in stages}
    found: dict[str, dict[str, Any]] = {
        name: {"category": name, "deals": 0, "value": 0.0, "examples": []} for name in REVIEW_CATEGORIES
    }
    for row in top:
        example = {
            "id": row["opportunity"],
            "name": names.get(row["opportunity"], ""),
            "stage": stage_names.get(row["stage"], ""),
            "amount": float(row["amount"]),
            "expected_close_date": _iso(row["expected_close_date"]),
            "expected_close_before": _iso(row["close_before"]),
        }
        for category, part in ((row["change"], "change"), ("slipped" if row["slipped"] else "", "slipped")):
            if category and row[f"{part}_place"] <= limit:
                found[category].update(deals=row[f"{part}_deals"], value=float(row[f"{part}_value"]))
                found[category]["examples"].append(example)
    document["categories"] = [found[name] for name in REVIEW_CATEGORIES]
    return document
