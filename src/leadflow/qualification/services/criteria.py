"""Qualification checklists: what each pipeline requires before a lead may enter a stage."""

from typing import Any

from django.db import transaction

from leadflow.errors import InvalidInput
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.pipeline.models import Pipeline
from leadflow.pipeline.selectors import default_pipeline
from leadflow.users.models import User
from leadflow.users.services import ensure_admin

from ..models import Criterion, QualificationCriterion
from ..selectors import criteria_for, missing_criteria

# Leads a rep holds that count against an assignment cap: those not yet turned into deals.
CAPPED_STAGES = (LifecycleStage.LEAD, LifecycleStage.PROSPECT, LifecycleStage.RECYCLED)


# --- checklists ---------------------------------------------------------------------------------------------------


@transaction.atomic
def save_criteria(pipeline: Pipeline, items: list[dict[str, Any]], *, by: User) -> list[QualificationCriterion]:
    """Replace the pipeline's checklist settings: each item names a `kind` and any of `threshold`, `is_active`,
    `required_to_accept`, `required_to_convert`; kinds not given keep what they had."""
    ensure_admin(by)
    current = {criterion.kind: criterion for criterion in criteria_for(pipeline)}
    for index, item in enumerate(items):
        kind = item.get("kind")
        if kind not in Criterion.values:
            raise InvalidInput.on(f"criteria[{index}].kind", f"Must be one of: {', '.join(Criterion.values)}.")
        criterion = current[kind]
        unknown = set(item) - {"kind", "threshold", "is_active", "required_to_accept", "required_to_convert"}
        if unknown:
            raise InvalidInput.on(f"criteria[{index}].{sorted(unknown)[0]}", "Unknown field.")
        for name in ("is_active", "required_to_accept", "required_to_convert"):
            if name in item:
                setattr(criterion, name, bool(item[name]))
        if "threshold" in item:
            criterion.threshold = _threshold(kind, item["threshold"], f"criteria[{index}].threshold")
        if (criterion.required_to_accept or criterion.required_to_convert) and not criterion.is_active:
            raise InvalidInput.on(f"criteria[{index}].is_active", "A required criterion must be on the checklist.")
    for criterion in current.values():
        criterion.save()
    return list(current.values())


def _threshold(kind: str, value: Any, field: str) -> int | None:
    if value in (None, ""):
        if kind in (Criterion.TIMING, Criterion.ICP_FIT):
            raise InvalidInput.on(field, "Give a number.")
        return None
    if kind in (Criterion.AUTHORITY, Criterion.NEED):
        raise InvalidInput.on(field, "This criterion takes no threshold.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput.on(field, "Must be a whole number.") from None
    if number < 0 or (kind == Criterion.ICP_FIT and number > 100):
        raise InvalidInput.on(field, "Must be between 0 and 100." if kind == Criterion.ICP_FIT else "Must be ≥ 0.")
    return number


def missing_for_entry(sender: object, *, lead: Lead, to: str, context: dict[str, Any], **kwargs: Any) -> list[str]:
    """What a person's move of the lead into `to` still needs: the criteria required to accept it (prospect) or to
    convert it (opportunity, in the conversion's pipeline). Connected to `stage_entry_requested`."""
    if to == LifecycleStage.PROSPECT:
        return missing_criteria(lead, default_pipeline(), to_convert=False)
    if to == LifecycleStage.OPPORTUNITY:
        return missing_criteria(lead, context.get("pipeline") or default_pipeline(), to_convert=True)
    return []


def can_edit_settings(user: User) -> bool:
    """Checklists and SLA settings are the admins'."""
    return user.is_admin
