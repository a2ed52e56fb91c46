"""Opportunities: opening, converting a lead, changing, moving through stages, closing, re-opening, deleting; and the
stage history kept from the moves."""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Model, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from leadflow.accounts.models import FREE_MAIL_DOMAINS, Account, Contact
from leadflow.accounts.services import email_domain, find_or_create_account
from leadflow.errors import Conflict, InvalidInput, NotAllowed, save_or_conflict
from leadflow.history import refresh_spells, set_on
from leadflow.leads.lifecycle import is_allowed
from leadflow.leads.models import Lead, LifecycleStage
from leadflow.leads.services import ensure_may_enter, record_lifecycle_change
from leadflow.users.models import User

from ..models import (
    LostReason,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
    Stage,
)
from ..selectors import default_pipeline
from .forecast import refresh_forecast_snapshots

OPPORTUNITY_FIELDS = {
    "name",
    "account",
    "contact",
    "owner",
    "amount",
    "currency",
    "expected_close_date",
    "probability_override",
    "review_note",
    "external_id",
}


def furthest_stage_expression(changes: type[Model]) -> Subquery:
    """For an outer deal, the furthest open stage (by order) among its moves. The moves are found by deal alone:
    a filter on the stage tempts PostgreSQL into the stage index."""
    is_open = Q(to_stage__is_won=False, to_stage__is_lost=False)
    moves = changes._default_manager.filter(opportunity=OuterRef("pk")).annotate(
        open_order=Case(When(is_open, then=F("to_stage__order")), default=Value(-1)),
        open_stage=Case(When(is_open, then=F("to_stage_id")), default=None),
    )
    return Subquery(moves.order_by("-open_order").values("open_stage")[:1])


def refresh_deal_history(opportunity_ids: Sequence[int] | None = None, *, since: datetime | None = None) -> None:
    """Recompute what is kept from these deals' stage history (every deal when None): each move's spell, the
    deal's furthest open stage and its rows in the forecast snapshots (those as of `since` or later, when the
    history changed from then on only). Every writer of `OpportunityStageChange` rows calls it."""
    refresh_spells(OpportunityStageChange, "opportunity", opportunity_ids)
    set_on(Opportunity, opportunity_ids, furthest_stage=furthest_stage_expression(OpportunityStageChange))
    refresh_forecast_snapshots(opportunity_ids, since=since)


def ensure_can_work_deals(user: User) -> None:
    if user.is_marketing:
        raise NotAllowed("Marketing cannot change opportunities.")


def _clean_opportunity(opportunity: Opportunity) -> None:
    opportunity.name = (opportunity.name or "").strip()
    if not opportunity.name:
        raise InvalidInput.on("name", "This field is required.")
    try:
        opportunity.amount = Decimal(opportunity.amount if opportunity.amount is not None else 0)
    except InvalidOperation as exc:
        raise InvalidInput.on("amount", "Enter a number.") from exc
    if opportunity.amount < 0:
        raise InvalidInput.on("amount", "Must not be negative.")
    opportunity.currency = (opportunity.currency or "").strip().upper()
    if len(opportunity.currency) != 3 or not opportunity.currency.isalpha():
        raise InvalidInput.on("currency", "Use a three-letter ISO currency code.")
    override = opportunity.probability_override
    if override is not None and not 0 <= override <= 100:
        raise InvalidInput.on("probability_override", "Must be between 0 and 100.")
    if opportunity.owner is not None and not opportunity.owner.is_active:
        raise InvalidInput.on("owner", f"{opportunity.owner.username} is not an active user.")
    opportunity.external_id = (opportunity.external_id or "").strip() or None
    if (
        opportunity.external_id
        and Opportunity.objects.exclude(pk=opportunity.pk).filter(external_id=opportunity.external_id).exists()
    ):
        raise Conflict("An opportunity with that external id exists.", errors={"external_id": ["Already in use."]})


def _stage_in(pipeline: Pipeline, stage: Stage | None) -> Stage:
    if stage is None:
        first_open = pipeline.stages.filter(is_won=False, is_lost=False).order_by("order").first()
        if first_open is None:
            raise InvalidInput.on("stage", f"Pipeline {pipeline} has no open stage.")
        return first_open
    if stage.pipeline_id != pipeline.pk:
        raise InvalidInput.on("stage", f"Stage {stage} is not in pipeline {pipeline}.")
    return stage


@transaction.atomic
def create_opportunity(
    *,
    by: User | None,
    name: str,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    lead: Lead | None = None,
    created_at: datetime | None = None,
    **fields: Any,
) -> Opportunity:
    """Open an opportunity in a pipeline's stage (its first open stage by default) and record that step."""
    if by is not None:
        ensure_can_work_deals(by)
    unknown = set(fields) - OPPORTUNITY_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    pipeline = pipeline or default_pipeline()
    stage = _stage_in(pipeline, stage)
    if stage.is_closed:
        raise InvalidInput.on("stage", "Open an opportunity in an open stage, then close it.")
    fields.setdefault("currency", settings.LEADFLOW_DEFAULT_CURRENCY)
    if fields.get("owner") is None and by is not None and by.is_sales:
        fields["owner"] = by
    owner = fields.get("owner")
    # Without a lead or an owner, the deal waits in its creator's team queue, where the creator sees it.
    holder = owner or by
    team = lead.team if lead is not None and lead.team_id else (holder.team if holder is not None else None)
    opportunity = Opportunity(name=name, pipeline=pipeline, stage=stage, lead=lead, team=team, **fields)
    opportunity.lead_source = lead.source if lead is not None else ""
    opportunity.created_at = created_at or timezone.now()
    _clean_opportunity(opportunity)
    save_or_conflict(opportunity)
    OpportunityStageChange.objects.create(
        opportunity=opportunity, from_stage=None, to_stage=stage, at=opportunity.created_at, by=by, reason="Opened"
    )
    refresh_deal_history([opportunity.pk], since=opportunity.created_at)
    opportunity.refresh_from_db(fields=["furthest_stage"])
    return opportunity


def _account_for_conversion(lead: Lead, contact: Contact) -> Account:
    if contact.account is not None:
        return contact.account
    domain = email_domain(contact.email)
    account = find_or_create_account(name=lead.company_name, domain=domain if domain not in FREE_MAIL_DOMAINS else None)
    if account is None:
        raise InvalidInput.on("company_name", "Give the lead's company (or a work email) to convert it.")
    contact.account = account
    contact.save(update_fields=["account", "updated_at"])
    return account


@transaction.atomic
def convert_lead(
    lead: Lead,
    *,
    by: User,
    name: str | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    expected_close_date: date | None = None,
) -> tuple[Opportunity, bool]:
    """Turn a lead into an opportunity, creating its account if missing; a second call returns the same
    opportunity. Returns (opportunity, created)."""
    ensure_can_work_deals(by)
    lead.refresh_from_db(from_queryset=Lead.objects.select_for_update())
    existing = lead.opportunities.order_by("id").first()
    if existing is not None:
        return existing, False
    if lead.lifecycle_stage != LifecycleStage.OPPORTUNITY and not is_allowed(
        lead.lifecycle_stage, LifecycleStage.OPPORTUNITY
    ):
        raise Conflict(
            f"A {lead.lifecycle_stage} lead cannot be converted.",
            errors={
                "lifecycle_stage": [f"Move the lead back to lead or prospect first (it is {lead.lifecycle_stage})."]
            },
        )
    ensure_may_enter(lead, LifecycleStage.OPPORTUNITY, pipeline=pipeline or default_pipeline())
    account = _account_for_conversion(lead, lead.contact)
    extra: dict[str, Any] = {"expected_close_date": expected_close_date}
    if amount is not None:
        extra["amount"] = amount
    if currency:
        extra["currency"] = currency
    opportunity = create_opportunity(
        by=by,
        name=(name or "").strip() or f"{account.name}: new business",
        pipeline=pipeline,
        stage=stage,
        lead=lead,
        account=account,
        contact=lead.contact,
        owner=lead.owner or (by if by.is_sales else None),
        **extra,
    )
    if lead.lifecycle_stage != LifecycleStage.OPPORTUNITY:
        record_lifecycle_change(
            lead, to=LifecycleStage.OPPORTUNITY, by=by, reason=f"Converted to opportunity {opportunity.pk}"
        )
    return opportunity, True


@transaction.atomic
def update_opportunity(opportunity: Opportunity, *, by: User, **fields: Any) -> Opportunity:
    """Change an opportunity's details; its stage changes only through moves."""
    ensure_can_work_deals(by)
    for forbidden, how in (("stage", "move it"), ("pipeline", "move it"), ("closed_at", "close it")):
        if forbidden in fields:
            raise InvalidInput.on(forbidden, f"Use the stage service to {how}.")
    unknown = set(fields) - OPPORTUNITY_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    for name, value in fields.items():
        setattr(opportunity, name, value)
    _clean_opportunity(opportunity)
    save_or_conflict(opportunity)
    return opportunity


def _lost_reason(value: LostReason | str | None) -> LostReason:
    if isinstance(value, LostReason):
        return value
    name = (value or "").strip()
    if not name:
        raise InvalidInput.on("lost_reason", "A lost reason is required to close an opportunity lost.")
    reason = LostReason.objects.filter(name__iexact=name, is_active=True).first()
    if reason is None:
        choices = ", ".join(LostReason.objects.filter(is_active=True).values_list("name", flat=True))
        raise InvalidInput.on("lost_reason", f"Unknown lost reason; choose one of: {choices}.")
    return reason


@transaction.atomic
def move_opportunity(
    opportunity: Opportunity,
    *,
    stage: Stage,
    by: User | None,
    reason: str = "",
    lost_reason: LostReason | str | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> Opportunity:
    """Move an opportunity to another stage of its pipeline and record the move.

    Into a won stage: the lead becomes a customer. Into a lost stage: a lost reason is required.
    Out of a closed stage: the deal is re-opened, and the history says so.
    """
    if by is not None:
        ensure_can_work_deals(by)
    opportunity.refresh_from_db(from_queryset=Opportunity.objects.select_for_update())
    if stage.pipeline_id != opportunity.pipeline_id:
        raise InvalidInput.on("stage", f"Stage {stage} is not in this opportunity's pipeline.")
    if stage.pk == opportunity.stage_id:
        return opportunity
    previous = opportunity.stage
    at = at or timezone.now()
    if stage.is_lost:
        opportunity.lost_reason = _lost_reason(lost_reason)
    else:
        opportunity.lost_reason = None
    if note is not None:
        opportunity.review_note = note.strip()
    if stage.is_closed:
        opportunity.closed_at = at
    elif previous.is_closed:
        opportunity.closed_at = None
        reason = reason or f"Re-opened from {previous.name}"
    opportunity.stage = stage
    opportunity.save()
    OpportunityStageChange.objects.create(
        opportunity=opportunity, from_stage=previous, to_stage=stage, at=at, by=by, reason=reason.strip()
    )
    refresh_deal_history([opportunity.pk], since=at)
    opportunity.refresh_from_db(fields=["furthest_stage"])
    lead = opportunity.lead
    if stage.is_won and lead is not None and is_allowed(lead.lifecycle_stage, LifecycleStage.CUSTOMER):
        record_lifecycle_change(
            lead, to=LifecycleStage.CUSTOMER, by=by, reason=f"Opportunity {opportunity.pk} closed won", at=at
        )
    return opportunity


@transaction.atomic
def close_opportunity(
    opportunity: Opportunity,
    *,
    won: bool,
    by: User | None,
    lost_reason: LostReason | str | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Opportunity:
    """Close an opportunity won or lost (lost needs a reason), with an optional review note."""
    opportunity.refresh_from_db(from_queryset=Opportunity.objects.select_for_update())
    stage = opportunity.pipeline.stages.filter(is_won=True) if won else opportunity.pipeline.stages.filter(is_lost=True)
    target = stage.order_by("order").first()
    if target is None:
        raise Conflict(f"Pipeline {opportunity.pipeline} has no {'won' if won else 'lost'} stage.")
    if opportunity.stage.is_closed:
        raise Conflict(
            f"The opportunity is already closed ({opportunity.stage.name}); re-open it first.",
            errors={"stage": ["Already closed."]},
        )
    if won and lost_reason:
        raise InvalidInput.on("lost_reason", "A won opportunity has no lost reason.")
    return move_opportunity(
        opportunity,
        stage=target,
        by=by,
        lost_reason=lost_reason,
        note=note,
        at=at,
        reason="Closed won" if won else "Closed lost",
    )


@transaction.atomic
def reopen_opportunity(
    opportunity: Opportunity, *, by: User, stage: Stage | None = None, reason: str = ""
) -> Opportunity:
    """Re-open a closed opportunity into an open stage (by default the one it was closed from)."""
    ensure_can_work_deals(by)
    opportunity.refresh_from_db(from_queryset=Opportunity.objects.select_for_update())
    if not opportunity.stage.is_closed:
        raise Conflict("The opportunity is open already.", errors={"stage": ["Not closed."]})
    if stage is None:
        last_close = opportunity.stage_changes.filter(to_stage=opportunity.stage_id).order_by("-at", "-id").first()
        stage = last_close.from_stage if last_close and last_close.from_stage else None
        stage = stage or _stage_in(opportunity.pipeline, None)
    if stage.is_closed:
        raise InvalidInput.on("stage", "Re-open into an open stage.")
    return move_opportunity(opportunity, stage=stage, by=by, reason=reason or f"Re-opened from {opportunity.stage}")


def delete_opportunity(opportunity: Opportunity, *, by: User) -> None:
    """Delete an opportunity: for managers and admins, who clean up mistakes."""
    if not (by.is_admin or by.is_manager):
        raise NotAllowed("Only managers and admins may delete opportunities.")
    opportunity.delete()
