"""Who is asking and which slice: the Scope every report takes, and the helpers that narrow rows to it."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Model, QuerySet

from leadflow.leads.models import Lead
from leadflow.leads.selectors import leads_visible_to
from leadflow.pipeline.models import Opportunity, Stage
from leadflow.pipeline.selectors import opportunities_visible_to
from leadflow.users.models import User


@dataclass(frozen=True)
class Scope:
    """Whose view and which slice: the user's visibility, a creation period, a source, an owner, a team."""

    user: User
    since: date | None = None
    until: date | None = None
    source: str | None = None
    owner_id: int | None = None
    team_id: int | None = None

    def leads(self) -> QuerySet[Lead]:
        leads = leads_visible_to(self.user)
        if self.since:
            leads = leads.filter(created_at__date__gte=self.since)
        if self.until:
            leads = leads.filter(created_at__date__lte=self.until)
        if self.source:
            leads = leads.filter(source=self.source)
        if self.owner_id:
            leads = leads.filter(owner_id=self.owner_id)
        if self.team_id:
            leads = leads.filter(team_id=self.team_id)
        return leads

    def deals(self) -> QuerySet[Opportunity]:
        deals = opportunities_visible_to(self.user)
        if self.since:
            deals = deals.filter(created_at__date__gte=self.since)
        if self.until:
            deals = deals.filter(created_at__date__lte=self.until)
        if self.source:
            deals = deals.filter(lead_source=self.source)
        if self.owner_id:
            deals = deals.filter(owner_id=self.owner_id)
        if self.team_id:
            deals = deals.filter(team_id=self.team_id)
        return deals


def _ratio(part: float | int, whole: float | int) -> float | None:
    return round(part / whole, 4) if whole else None


def _scoped(rows: QuerySet, owner_field: str, owners: QuerySet) -> QuerySet:
    """The rows that belong to the scoped leads or deals; when the scope is everything, no match against it, so
    the database reads the indexes alone."""
    return rows.filter(**{f"{owner_field}__in": owners.values("pk")}) if owners.query.has_filters() else rows


def _history(model: type[Model], owner_field: str, owners: QuerySet, **within: Any) -> QuerySet:
    """The history rows (narrowed by `within`) of the scoped leads or deals."""
    return _scoped(model._default_manager.filter(**within), owner_field, owners)


def _stages(**kind: bool) -> QuerySet[Stage]:
    return Stage.objects.filter(**kind).only("pk")
