"""Reads for tracking: the sites a user may see, and what a site's visitors did there."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from leadflow.users.models import User

from .models import Hit, HitKind, Site, Visitor
from .services import can_manage_sites


def sites_visible_to(user: User) -> QuerySet[Site]:
    """Every site for marketing and admins; none for sales (they see known visitors on their leads' timelines)."""
    return Site.objects.all() if can_manage_sites(user) else Site.objects.none()


@dataclass(frozen=True, slots=True)
class SiteSummary:
    visitors: int
    known_visitors: int
    page_views: int
    top_pages: list[dict]
    sources: list[dict]


def site_summary(site: Site, *, since: datetime | None = None, top: int = 10) -> SiteSummary:
    """Visitors (anonymous and known), page views, the most viewed pages and where visitors came from, over the
    last 30 days unless `since` says otherwise."""
    since = since or timezone.now() - timedelta(days=30)
    visitors = Visitor.objects.filter(site=site, last_seen__gte=since).aggregate(
        all=Count("pk"), known=Count("pk", filter=Q(lead__isnull=False))
    )
    views = Hit.objects.filter(visitor__site=site, kind=HitKind.PAGE_VIEW, occurred_at__gte=since)
    top_pages = list(
        views.values("path")
        .annotate(views=Count("pk"), visitors=Count("visitor", distinct=True))
        .order_by("-views", "path")[:top]
    )
    sources = list(
        views.values("source").annotate(visitors=Count("visitor", distinct=True)).order_by("-visitors", "source")[:top]
    )
    return SiteSummary(
        visitors=visitors["all"],
        known_visitors=visitors["known"],
        page_views=views.count(),
        top_pages=top_pages,
        sources=[{"source": row["source"] or "direct", "visitors": row["visitors"]} for row in sources],
    )


def site_visitors(site: Site, *, known_only: bool = False) -> QuerySet[Visitor]:
    """The site's visitors, most recently seen first, with their lead and how many pages they viewed."""
    visitors = Visitor.objects.filter(site=site)
    if known_only:
        visitors = visitors.filter(lead__isnull=False)
    return (
        visitors.select_related("lead__contact")
        .annotate(page_views=Count("hits", filter=Q(hits__kind=HitKind.PAGE_VIEW)), last_hit=Max("hits__occurred_at"))
        .order_by("-last_seen", "-pk")
    )


def visitor_path(visitor: Visitor, *, limit: int = 200) -> list[Hit]:
    """What the visitor did, in order: the path they took through the site."""
    return list(visitor.hits.order_by("occurred_at", "pk")[:limit])
