"""Writes for leads: capture, edits, lifecycle transitions, assignment and merging."""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from django.db import transaction
from django.db.models import Case, F, ForeignKey, IntegerField, Model, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from leadflow.accounts.models import FREE_MAIL_DOMAINS, Account, Contact
from leadflow.accounts.selectors import account_with_domain
from leadflow.accounts.services import email_domain, find_or_create_contact, normalise_email
from leadflow.errors import Conflict, DomainError, InvalidInput, NotAllowed, clash_with, save_or_conflict
from leadflow.history import refresh_spells, set_on
from leadflow.prepared import Prepared, insert
from leadflow.users.models import Team, User

from .lifecycle import FORWARD, NEEDS_REASON, REACHED_THROUGH_DEALS, is_allowed
from .models import Assignment, AssignmentHow, Authority, Lead, LeadSource, LifecycleStage, StageChange
from .selectors import being_worked
from .signals import leads_merged, lifecycle_changed, stage_entry_requested

CONTACT_INPUT_FIELDS = {"first_name", "last_name", "phone", "job_title", "seniority", "role_function", "attributes"}
LEAD_FIELDS = {
    "company_name",
    "source",
    "source_detail",
    "first_touch_channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "budget_amount",
    "budget_confirmed",
    "authority",
    "need",
    "timing_target_date",
    "external_id",
}
# Stages in which marketing still works a lead; past them it belongs to sales.
MARKETING_STAGES = (
    LifecycleStage.LEAD,
    LifecycleStage.PROSPECT,
    LifecycleStage.RECYCLED,
    LifecycleStage.DISQUALIFIED,
)


def ensure_can_change_lead(user: User, lead: Lead) -> None:
    """Refuse a change the user's role may not make (visibility is the selector's job)."""
    if user.is_marketing and lead.lifecycle_stage not in MARKETING_STAGES:
        raise NotAllowed("Marketing cannot change a lead once it is with sales.")


def _check_owner(by: User, owner: User | None) -> None:
    if owner is None:
        return
    if not owner.is_active:
        raise InvalidInput.on("owner", f"{owner.username} is not an active user.")
    if by.is_admin or by.is_marketing or owner == by:
        return
    if by.is_manager and by.team_id is not None and owner.team_id == by.team_id:
        return
    raise NotAllowed("You may not assign leads to that user.", errors={"owner": ["Not someone you may assign to."]})


def _clean_lead(lead: Lead) -> None:
    if lead.source not in LeadSource.values:
        raise InvalidInput.on("source", f"Must be one of: {', '.join(LeadSource.values)}.")
    if lead.authority not in Authority.values:
        raise InvalidInput.on("authority", f"Must be one of: {', '.join(Authority.values)}.")
    if lead.budget_amount is not None:
        lead.budget_amount = Decimal(lead.budget_amount)
        if lead.budget_amount < 0:
            raise InvalidInput.on("budget_amount", "Must not be negative.")
    lead.external_id = (lead.external_id or "").strip() or None
    clash = clash_with(lead)
    if clash is not None:
        raise clash


_OPEN_LEAD = Prepared(
    lambda contact_id: being_worked(Lead.objects.filter(contact_id=contact_id)).order_by("created_at", "id")[:1],
    contact_id=int,
)


def open_lead_for(contact: Contact) -> Lead | None:
    """The contact's lead that is still being worked, if any (a read every capture of a known person makes)."""
    return next(iter(_OPEN_LEAD(contact_id=contact.pk)), None)


def _refuse_second_open_lead(contact: Contact, *, except_lead: Lead | None = None) -> None:
    existing = open_lead_for(contact)
    if existing is not None and existing != except_lead:
        raise Conflict(
            f"Lead {existing.pk} is already open for {contact}; update or merge it instead.",
            errors={"email": [f"An open lead (id {existing.pk}) already exists for this contact."]},
            extra={"existing_lead_id": existing.pk},
        )


def _account_for_email(email: str | None) -> Account | None:
    domain = email_domain(email)
    if not domain or domain in FREE_MAIL_DOMAINS:
        return None
    return account_with_domain(domain)


@transaction.atomic
def create_lead(
    *,
    by: User | None,
    email: str | None = None,
    contact: Contact | None = None,
    account: Account | None = None,
    owner: User | None = None,
    team: Team | None = None,
    created_at: datetime | None = None,
    email_looked_up: bool = False,
    **fields: Any,
) -> Lead:
    """Capture a lead: reuse the contact with that email or create one, refuse a second open lead.

    `fields` holds the lead's own fields and the new contact's (first_name, last_name, phone, job_title,
    attributes, ...). A rep's new lead is theirs; anyone else's lands in the team queue unless an owner is given.
    `email_looked_up` when the caller has just looked the email up in this transaction and found no contact.
    """
    unknown = set(fields) - LEAD_FIELDS - CONTACT_INPUT_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    contact_fields = {k: v for k, v in fields.items() if k in CONTACT_INPUT_FIELDS and v not in (None, "")}
    lead_fields = {k: v for k, v in fields.items() if k in LEAD_FIELDS and v is not None}
    created_contact = False
    if contact is None:
        email = normalise_email(email)
        account = account or _account_for_email(email)
        contact, created_contact = find_or_create_contact(
            email=email, looked_up=email_looked_up, account=account, **contact_fields
        )
    elif account is not None and contact.account_id is None:
        contact.account = account
        contact.save(update_fields=["account", "updated_at"])
    if not created_contact:  # a contact born in this transaction has no leads, and no one else sees it yet
        Contact.objects.select_for_update().filter(pk=contact.pk).first()  # serialise captures for this person
        _refuse_second_open_lead(contact)

    if by is not None:
        if owner is None and by.is_sales:
            owner = by
        _check_owner(by, owner)
    lead = Lead(contact=contact, owner=owner, team=team or _default_team(by, owner), **lead_fields)
    lead.created_at = created_at or timezone.now()
    # Its history is the one step below, so what `refresh_lead_history` keeps is known: the furthest stage is
    # this one, and the step's spell is still running (no `left_at`, no length).
    lead.furthest_stage = LifecycleStage.LEAD
    _clean_lead(lead)
    save_or_conflict(lead)
    insert(StageChange(lead=lead, from_stage="", to_stage=LifecycleStage.LEAD, at=lead.created_at, by=by,
                       reason="Captured"))  # fmt: skip
    return lead


def furthest_stage_expression(changes: type[Model]) -> Coalesce:
    """For an outer lead, the furthest funnel stage among its lifecycle steps ('' when it has none). The steps
    are found by lead alone: a filter on the stage tempts PostgreSQL into scanning the stage index per lead."""
    rank = Case(*[When(to_stage=stage, then=Value(i)) for i, stage in enumerate(FORWARD)], output_field=IntegerField())
    funnel_stage = Case(*[When(to_stage=stage, then=Value(stage)) for stage in FORWARD], default=Value(""))
    steps = changes._default_manager.filter(lead=OuterRef("pk")).annotate(funnel_stage=funnel_stage)
    return Coalesce(Subquery(steps.order_by(rank.desc(nulls_last=True)).values("funnel_stage")[:1]), Value(""))


def refresh_lead_history(lead_ids: Sequence[int] | None = None) -> None:
    """Recompute what is kept from these leads' lifecycle history (all leads when None): each step's spell and
    the furthest funnel stage. Every writer of `StageChange` rows calls it, except those that store what it would
    compute: capture and the leadforge import (a lead's whole history at once), and `record_lifecycle_change` for a
    step that comes last."""
    refresh_spells(StageChange, "lead", lead_ids)
    set_on(Lead, lead_ids, furthest_stage=furthest_stage_expression(StageChange))


def _default_team(by: User | None, owner: User | None) -> Team | None:
    if owner is not None and owner.team_id is not None:
        return owner.team
    if by is not None and (by.is_sales or by.is_manager):
        return by.team
    return None


@transaction.atomic
def update_lead(lead: Lead, *, by: User | None, owner: Any = ..., team: Any = ..., **fields: Any) -> Lead:
    """Change a lead's details, owner or team (`by` None: leadflow itself, e.g. a capture door); the lifecycle
    stage changes only through transitions."""
    if by is not None:
        ensure_can_change_lead(by, lead)
    if "lifecycle_stage" in fields:
        raise InvalidInput.on("lifecycle_stage", "Use a transition to change the lifecycle stage.")
    unknown = set(fields) - LEAD_FIELDS
    if unknown:
        raise InvalidInput.on(sorted(unknown)[0], "Unknown field.")
    for name, value in fields.items():
        setattr(lead, name, value)
    reassigned = owner is not ... and owner != lead.owner
    if owner is not ...:
        if by is not None:
            _check_owner(by, owner)
        lead.owner = owner
        if owner is not None and team is ...:
            lead.team = owner.team or lead.team
    if team is not ...:
        lead.team = team
    _clean_lead(lead)
    save_or_conflict(lead)
    if reassigned:
        Assignment.objects.create(lead=lead, owner=lead.owner, by=by, how=AssignmentHow.BY_HAND)
    if "source" in fields:
        lead.opportunities.update(lead_source=lead.source)
    return lead


@transaction.atomic
def assign_owner(
    lead: Lead, owner: User | None, *, by: User | None, how: str, rule_name: str = "", at: datetime | None = None
) -> Assignment:
    """Give the lead to `owner` (None: back to the team queue) and record the assignment; the owner's team becomes
    the lead's. Callers decide who may be chosen (assignment rules, SLA reassignment)."""
    lead.owner = owner
    if owner is not None and owner.team_id is not None:
        lead.team_id = owner.team_id
    lead.save(update_fields=["owner", "team", "updated_at"])
    return Assignment.objects.create(
        lead=lead, owner=owner, by=by, how=how, rule_name=rule_name, at=at or timezone.now()
    )


def ensure_may_enter(lead: Lead, to: str, **context: Any) -> None:
    """Refuse a person's move of the lead into `to` while it lacks what the apps built on leads require
    (qualification criteria, say), naming each missing item."""
    missing = [item for _, lacks in stage_entry_requested.send(sender=Lead, lead=lead, to=to, context=context)
               for item in lacks or ()]  # fmt: skip
    if missing:
        raise Conflict(
            f"The lead cannot become {'an' if to[0] in 'aeiou' else 'a'} {to} yet: {'; '.join(missing)}.",
            errors={"qualification": missing},
            extra={"missing": missing},
        )


def record_lifecycle_change(
    lead: Lead, *, to: str, by: User | None, reason: str = "", at: datetime | None = None
) -> StageChange:
    """Move a lead along the lifecycle graph and record the step; the one writer of `StageChange`."""
    if to not in LifecycleStage.values:
        raise InvalidInput.on("to", f"Must be one of: {', '.join(LifecycleStage.values)}.")
    current = lead.lifecycle_stage
    if not is_allowed(current, to):
        raise Conflict(
            f"A lead cannot move from {current} to {to}.",
            errors={"to": [f"Not allowed from {current}."]},
        )
    # The one writer clips: callers quote the user's words inside their own ("Rejected by sales: …").
    reason = (reason or "").strip()[: StageChange._meta.get_field("reason").max_length]
    if to in NEEDS_REASON and not reason:
        raise InvalidInput.on("reason", f"A reason is required to move a lead to {to}.")
    if current == LifecycleStage.DISQUALIFIED and to == LifecycleStage.RECYCLED:
        _refuse_second_open_lead(lead.contact, except_lead=lead)
    at = at or timezone.now()
    latest = lead.stage_changes.order_by("-at", "-id").values_list("pk", "at").first()
    lead.lifecycle_stage, lead.updated_at = to, timezone.now()
    if latest is None or latest[1] <= at:
        # The step comes last, so what `refresh_lead_history` keeps is known: the spell it ends, and a furthest
        # stage that moves up to this one if it is further (worked out by the database, from the stored one).
        further = {}
        if to in FORWARD:
            further["furthest_stage"] = Case(
                When(furthest_stage__in=["", *FORWARD[: FORWARD.index(to)]], then=Value(to)),
                default=F("furthest_stage"),
            )
            if _forward_rank(to) > _forward_rank(lead.furthest_stage):
                lead.furthest_stage = to
        Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=to, updated_at=lead.updated_at, **further)
        if latest is not None:
            days = (at - latest[1]).total_seconds() / 86400
            StageChange.objects.filter(pk=latest[0]).update(left_at=at, days_in_stage=days)
        change = StageChange.objects.create(lead=lead, from_stage=current, to_stage=to, at=at, by=by, reason=reason)
    else:  # a back-dated step: the spells after it move
        lead.save(update_fields=["lifecycle_stage", "updated_at"])
        change = StageChange.objects.create(lead=lead, from_stage=current, to_stage=to, at=at, by=by, reason=reason)
        refresh_lead_history([lead.pk])
        lead.refresh_from_db(fields=["furthest_stage"])
    lifecycle_changed.send(sender=Lead, lead=lead, change=change)
    return change


@transaction.atomic
def transition_lead(lead: Lead, *, to: str, by: User, reason: str = "") -> Lead:
    """Move a lead to another lifecycle stage by hand (opportunity and customer come from deals)."""
    ensure_can_change_lead(by, lead)
    lead.refresh_from_db(from_queryset=Lead.objects.select_for_update())
    if to in REACHED_THROUGH_DEALS and is_allowed(lead.lifecycle_stage, to):
        raise Conflict(
            f"A lead cannot be moved to {to} by hand: {REACHED_THROUGH_DEALS[to]}.",  # type: ignore[index]
            errors={"to": [REACHED_THROUGH_DEALS[to].capitalize() + "."]},  # type: ignore[index]
        )
    if is_allowed(lead.lifecycle_stage, to):
        ensure_may_enter(lead, to)
    record_lifecycle_change(lead, to=to, by=by, reason=reason)
    return lead


def _fill_blanks(target: Lead, source: Lead) -> list[str]:
    """Copy the source's answers into the target's empty fields; returns the names copied."""
    copied = []
    for name in LEAD_FIELDS - {"external_id"}:
        mine, theirs = getattr(target, name), getattr(source, name)
        if theirs not in (None, "", False, Authority.UNKNOWN) and mine in (None, "", False, Authority.UNKNOWN):
            setattr(target, name, theirs)
            copied.append(name)
    if target.owner_id is None and source.owner_id is not None:
        target.owner_id, target.team_id = source.owner_id, source.team_id
        copied.append("owner")
    if source.last_activity_at and (not target.last_activity_at or source.last_activity_at > target.last_activity_at):
        target.last_activity_at = source.last_activity_at
    return copied


def _move_related_rows(duplicate: Lead, survivor: Lead) -> None:
    """Point every row that belongs to the duplicate (activities, opportunities, later events) at the survivor;
    a one-to-one row (a score) stays with the duplicate when the survivor has its own."""
    for relation in Lead._meta.related_objects:
        if relation.related_model in (Lead, StageChange) or not isinstance(relation.field, ForeignKey):
            continue
        model = cast(type[Model], relation.related_model)
        rows = model._default_manager.filter(**{relation.field.name: duplicate})
        if relation.one_to_one and model._default_manager.filter(**{relation.field.name: survivor}).exists():
            continue  # the survivor has its own (a score): the duplicate keeps its row
        rows.update(**{relation.field.name: survivor})


@transaction.atomic
def merge_leads(*, survivor: Lead, duplicate: Lead, by: User) -> Lead:
    """Fold a duplicate lead into the survivor: its answers fill blanks, its rows move over, and it is
    disqualified with a pointer to the survivor so its own history stays readable."""
    if by.is_marketing:
        raise NotAllowed("Marketing cannot merge leads.")
    if survivor.pk == duplicate.pk:
        raise InvalidInput.on("duplicate_id", "A lead cannot be merged into itself.")
    survivor.refresh_from_db(from_queryset=Lead.objects.select_for_update())
    duplicate.refresh_from_db(from_queryset=Lead.objects.select_for_update())
    if duplicate.lifecycle_stage == LifecycleStage.CUSTOMER:
        raise Conflict("A customer's lead cannot be merged away.", errors={"duplicate_id": ["Lead is a customer."]})
    if duplicate.merged_into_id is not None:
        raise Conflict(
            f"Lead {duplicate.pk} was already merged into lead {duplicate.merged_into_id}.",
            errors={"duplicate_id": ["Already merged."]},
        )
    _fill_blanks(survivor, duplicate)
    survivor.save()
    _move_related_rows(duplicate, survivor)
    survivor.opportunities.update(lead_source=survivor.source)
    reason = f"Merged into lead {survivor.pk}"
    if duplicate.lifecycle_stage != LifecycleStage.DISQUALIFIED:
        record_lifecycle_change(duplicate, to=LifecycleStage.DISQUALIFIED, by=by, reason=reason)
    duplicate.merged_into = survivor
    duplicate.save(update_fields=["merged_into", "updated_at"])
    reached = duplicate.furthest_stage or LifecycleStage.LEAD
    if _forward_rank(reached) > _forward_rank(survivor.lifecycle_stage) and is_allowed(
        survivor.lifecycle_stage, reached
    ):
        record_lifecycle_change(survivor, to=reached, by=by, reason=f"Merged from lead {duplicate.pk}")
    leads_merged.send(sender=Lead, survivor=survivor, duplicate=duplicate)
    return survivor


def _forward_rank(stage: str) -> int:
    return FORWARD.index(stage) if stage in FORWARD else -1


def delete_lead(lead: Lead, *, by: User) -> None:
    """Delete a lead and its history: for managers and admins cleaning up mistakes (merge keeps history)."""
    if not (by.is_admin or by.is_manager):
        raise NotAllowed("Only managers and admins may delete leads.")
    if lead.opportunities.exists():
        raise Conflict("The lead has opportunities; delete or close them first.")
    lead.delete()


def transition_leads(leads: list[Lead], *, to: str, by: User, reason: str = "") -> tuple[int, list[str]]:
    """Move many leads; each moves or is refused on its own. Returns (moved, refusals)."""
    moved, refusals = 0, []
    for lead in leads:
        try:
            transition_lead(lead, to=to, by=by, reason=reason)
            moved += 1
        except DomainError as exc:
            refusals.append(f"Lead {lead.pk} ({lead.contact}): {exc.detail}")
    return moved, refusals


def assign_leads(leads: list[Lead], *, owner: User | None, by: User) -> tuple[int, list[str]]:
    """Give many leads to one owner (or back to the queue); returns (assigned, refusals)."""
    assigned, refusals = 0, []
    for lead in leads:
        try:
            update_lead(lead, by=by, owner=owner)
            assigned += 1
        except DomainError as exc:
            refusals.append(f"Lead {lead.pk} ({lead.contact}): {exc.detail}")
    return assigned, refusals
