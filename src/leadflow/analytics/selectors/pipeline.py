"""The pipeline by stage: count, value and weighted value of open deals."""

from typing import Any

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum
from django.db.models.functions import Coalesce

from leadflow.pipeline.models import Pipeline

from .scope import Scope


def _probability() -> Coalesce:
    return Coalesce("probability_override", "stage__probability")


def pipeline_by_stage(scope: Scope, pipeline: Pipeline) -> list[dict[str, Any]]:
    """Count, value and probability-weighted value of the deals in each stage of a pipeline."""
    weighted = ExpressionWrapper(F("amount") * _probability() / 100.0, output_field=DecimalField())
    rows = {
        row["stage"]: row
        for row in scope.deals()
        .filter(pipeline=pipeline)
        .values("stage")
        .annotate(count=Count("id"), value=Sum("amount"), weighted=Sum(weighted))
        .order_by()
    }
    return [
        {
            "stage": stage.name,
            "probability": stage.probability,
            "is_closed": stage.is_closed,
            "count": rows.get(stage.pk, {}).get("count", 0),
            "value": float(rows.get(stage.pk, {}).get("value") or 0),
            "weighted_value": round(float(rows.get(stage.pk, {}).get("weighted") or 0), 2),
        }
        for stage in pipeline.stages.order_by("order")
    ]
