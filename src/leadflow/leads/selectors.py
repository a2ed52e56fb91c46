"""Reads of leads, filtered by what the user may see."""

from datetime import date

from django.db.models import Q, QuerySet
from django.http import Http404

from leadflow.users.models import Role, User
from leadflow.users.selectors import managers_of, team_managers

from .lifecycle import REACHED_THROUGH_DEALS, allowed_next_stages
from .models import OPEN_STAGES, Lead, LifecycleStage, StageChange


def team_scope(user: User, *, owner_field: str, team_field: str) -> Q:
    """Rows a role may see, by owner and team: admin and marketing all, a manager their team,
    a rep their own rows plus their team's unassigned queue."""
    if user.is_admin or user.is_marketing:
        return Q()
    own = Q(**{owner_field: user})
    if user.team_id is None:
        return own
    if user.is_manager:
        return own | Q(**{team_field: user.team_id}) | Q(**{f"{owner_field}__team": user.team_id})
    return own | Q(**{f"{owner_field}__isnull": True, team_field: user.team_id})


def being_worked(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """Leads still being worked: before the deal stage, or at it while a deal is open. A contact has at most one
    such lead (a rule of the capture service: imported history may hold more)."""
    before_deals = Q(lifecycle_stage__in=[s for s in OPEN_STAGES if s != LifecycleStage.OPPORTUNITY])
    closed_deal = Lead.objects.filter(opportunities__closed_at__isnull=False).values("pk")
    deal_open = Q(lifecycle_stage=LifecycleStage.OPPORTUNITY) & ~Q(pk__in=closed_deal)
    return leads.filter(before_deals | deal_open)


def leads_visible_to(user: User) -> QuerySet[Lead]:
    """Every lead the user may see."""
    return Lead.objects.filter(team_scope(user, owner_field="owner", team_field="team"))


def lead_list(
    user: User,
    *,
    lifecycle_stage: str | None = None,
    source: str | None = None,
    owner_id: int | None = None,
    unassigned: bool | None = None,
    search: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    has_open_opportunity: bool | None = None,
) -> QuerySet[Lead]:
    """Visible leads with their contact, account and owner, filtered, newest first."""
    leads = leads_visible_to(user).select_related("contact", "contact__account", "owner", "team")
    if lifecycle_stage:
        leads = leads.filter(lifecycle_stage=lifecycle_stage)
    if source:
        leads = leads.filter(source=source)
    if owner_id is not None:
        leads = leads.filter(owner_id=owner_id)
    if unassigned is not None:
        leads = leads.filter(owner__isnull=unassigned)
    if created_from:
        leads = leads.filter(created_at__date__gte=created_from)
    if created_to:
        leads = leads.filter(created_at__date__lte=created_to)
    if has_open_opportunity is not None:
        with_open_deal = Lead.objects.filter(opportunities__closed_at__isnull=True, opportunities__isnull=False)
        in_set = Q(pk__in=with_open_deal.values("pk"))
        leads = leads.filter(in_set) if has_open_opportunity else leads.exclude(in_set)
    if search:
        term = search.strip()
        leads = leads.filter(
            Q(contact__email__icontains=term)
            | Q(contact__first_name__icontains=term)
            | Q(contact__last_name__icontains=term)
            | Q(company_name__icontains=term)
            | Q(contact__account__name__icontains=term)
        )
    return leads


def get_lead(user: User, lead_id: int) -> Lead:
    """The lead if the user may see it; a lead they may not see does not exist for them."""
    lead = lead_list(user).filter(pk=lead_id).first()
    if lead is None:
        raise Http404("No such lead.")
    return lead


def lead_stage_changes(lead: Lead) -> QuerySet[StageChange]:
    """The lead's lifecycle history, oldest first."""
    return lead.stage_changes.select_related("by").order_by("at", "id")


def manual_next_stages(lead: Lead) -> list[str]:
    """The stages a user may move this lead to by hand (the lifecycle bar's buttons)."""
    return [s for s in allowed_next_stages(lead.lifecycle_stage) if s not in REACHED_THROUGH_DEALS]


def people_to_tell(lead: Lead) -> list[User]:
    """Who hears of trouble with a lead (a missed SLA, a nurture step's notice): its owner and the owner's managers;
    for an unowned lead, its team's managers; when that finds nobody, the admins."""
    owner = lead.owner
    people = [owner, *managers_of(owner)] if owner is not None else list(team_managers(lead.team_id))
    return people or list(User.objects.filter(role=Role.ADMIN, is_active=True))
