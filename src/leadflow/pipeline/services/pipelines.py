"""Pipelines' set-up: stages, their order and probabilities, and the lost reasons."""

from django.db import transaction

from leadflow.errors import Conflict, InvalidInput
from leadflow.users.models import User
from leadflow.users.services import ensure_admin

from ..models import LostReason, OpportunityStageChange, Pipeline, Stage


def _clean_stage(stage: Stage) -> None:
    stage.name = (stage.name or "").strip()
    if not stage.name:
        raise InvalidInput.on("name", "This field is required.")
    if stage.probability is None or not 0 <= stage.probability <= 100:
        raise InvalidInput.on("probability", "Must be between 0 and 100.")
    if stage.is_won and stage.is_lost:
        raise InvalidInput.on("is_lost", "A stage is won or lost, not both.")
    if Stage.objects.filter(pipeline=stage.pipeline_id, name__iexact=stage.name).exclude(pk=stage.pk).exists():
        raise Conflict(f"Stage {stage.name} exists in this pipeline.", errors={"name": ["Already taken."]})


@transaction.atomic
def update_stage(stage: Stage, *, by: User, name: str, probability: int) -> Stage:
    """Rename a stage or change its default win probability."""
    ensure_admin(by)
    stage.name, stage.probability = name, probability
    _clean_stage(stage)
    stage.save()
    return stage


@transaction.atomic
def add_stage(
    pipeline: Pipeline, *, by: User, name: str, probability: int, is_won: bool = False, is_lost: bool = False
) -> Stage:
    """Add a stage: open stages go before the closed ones, closed stages at the end."""
    ensure_admin(by)
    stages = list(pipeline.stages.select_for_update().order_by("order"))
    stage = Stage(pipeline=pipeline, name=name, probability=probability, is_won=is_won, is_lost=is_lost)
    _clean_stage(stage)
    position = len(stages) if stage.is_closed else next((i for i, s in enumerate(stages) if s.is_closed), len(stages))
    stages.insert(position, stage)
    _renumber(stages)
    return stage


def _renumber(stages: list[Stage]) -> None:
    """Save stages in the given order; orders move through a free range so the unique constraint holds."""
    offset = max((s.order for s in stages if s.pk), default=0) + len(stages) + 1
    for index, stage in enumerate(stages):
        if stage.pk:
            Stage.objects.filter(pk=stage.pk).update(order=offset + index)
    for index, stage in enumerate(stages, start=1):
        stage.order = index
        stage.save()


@transaction.atomic
def move_stage(stage: Stage, *, by: User, step: int) -> None:
    """Move a stage one place earlier (step -1) or later (step +1) in its pipeline."""
    ensure_admin(by)
    stages = list(stage.pipeline.stages.select_for_update().order_by("order"))
    index = next(i for i, s in enumerate(stages) if s.pk == stage.pk)
    target = index + step
    if not 0 <= target < len(stages):
        raise Conflict("The stage cannot move further that way.")
    stages[index], stages[target] = stages[target], stages[index]
    _renumber(stages)


@transaction.atomic
def delete_stage(stage: Stage, *, by: User) -> None:
    """Delete a stage no opportunity has ever been in."""
    ensure_admin(by)
    used = stage.opportunities.exists() or OpportunityStageChange.objects.filter(to_stage=stage).exists()
    if used:
        raise Conflict(f"Opportunities have been in {stage.name}; it stays for their history.")
    stage.delete()


DEFAULT_STAGES = (
    ("Prospecting", 10, False, False),
    ("Qualification", 20, False, False),
    ("Proposal", 50, False, False),
    ("Negotiation", 70, False, False),
    ("Closed won", 100, True, False),
    ("Closed lost", 0, False, True),
)


@transaction.atomic
def create_pipeline(*, by: User, name: str) -> Pipeline:
    """A new pipeline with the default stages, ready to be tailored."""
    ensure_admin(by)
    name = name.strip()
    if not name:
        raise InvalidInput.on("name", "This field is required.")
    if Pipeline.objects.filter(name__iexact=name).exists():
        raise Conflict(f"Pipeline {name} exists.", errors={"name": ["Already taken."]})
    pipeline = Pipeline.objects.create(name=name, is_default=not Pipeline.objects.exists())
    Stage.objects.bulk_create(
        Stage(pipeline=pipeline, name=n, order=i, probability=p, is_won=w, is_lost=lo)
        for i, (n, p, w, lo) in enumerate(DEFAULT_STAGES, start=1)
    )
    return pipeline


def add_lost_reason(*, by: User, name: str) -> LostReason:
    ensure_admin(by)
    name = name.strip()
    if not name:
        raise InvalidInput.on("name", "This field is required.")
    existing = LostReason.objects.filter(name__iexact=name).first()
    if existing is not None:
        if existing.is_active:
            raise Conflict(f"Lost reason {name} exists.", errors={"name": ["Already taken."]})
        existing.is_active = True
        existing.save(update_fields=["is_active"])
        return existing
    return LostReason.objects.create(name=name)


def set_lost_reason_active(reason: LostReason, *, by: User, is_active: bool) -> LostReason:
    """Retire a reason from the choices (closed deals keep it) or bring it back."""
    ensure_admin(by)
    reason.is_active = is_active
    reason.save(update_fields=["is_active"])
    return reason
