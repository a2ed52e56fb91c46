"""Reads of engagement events, filtered by what the user may see."""

from datetime import datetime

from django.db.models import Q, QuerySet

from leadflow.leads.models import Lead
from leadflow.leads.selectors import leads_visible_to
from leadflow.users.models import User

from .models import Event


def events_visible_to(user: User) -> QuerySet[Event]:
    """Events of the leads the user may see, and events of contacts with no lead (contacts are shared records)."""
    if user.is_admin or user.is_marketing:
        return Event.objects.all()
    return Event.objects.filter(Q(lead__in=leads_visible_to(user).values("pk")) | Q(lead__isnull=True))


def event_list(
    user: User,
    *,
    lead_id: int | None = None,
    contact_id: int | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
) -> QuerySet[Event]:
    """Visible events, filtered, newest first."""
    events = events_visible_to(user)
    if lead_id is not None:
        events = events.filter(lead_id=lead_id)
    if contact_id is not None:
        events = events.filter(contact_id=contact_id)
    if event_type:
        events = events.filter(type=event_type)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    return events.order_by("-occurred_at", "-id")


# The properties that say most about an event, in the order they are tried for its one-line description.
TELLING_PROPERTIES = ("page", "url", "subject", "title", "asset", "campaign", "campaign_id", "channel", "session_type")


def describe(event: Event) -> str:
    """The event in a line: its type and what it was about ("Email click: spring-webinar")."""
    about = next((str(event.properties[key]) for key in TELLING_PROPERTIES if event.properties.get(key)), "")
    return f"{event.get_type_display()}: {about}" if about else event.get_type_display()


def lead_events(lead: Lead, *, limit: int = 200) -> QuerySet[Event]:
    """The lead's latest events, newest first (for its timeline)."""
    return lead.events.order_by("-occurred_at", "-id")[:limit]
