"""The tracked sites: each site's snippet, visitors (anonymous and known), top pages, sources, and the path each
known visitor took."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from leadflow.tracking import selectors, services
from leadflow.tracking.models import Site, Visitor

from ..forms.tracking import SiteForm
from .common import current, only_for, page_of, submit_form

site_managers_only = only_for(services.can_manage_sites)


def _site_list(request: HttpRequest, form: SiteForm, *, status: int = 200) -> HttpResponse:
    page = page_of(request, selectors.sites_visible_to(current(request)))
    return render(request, "web/tracking/sites.html", {"page": page, "form": form}, status=status)


@site_managers_only
def site_list(request: HttpRequest) -> HttpResponse:
    """The tracked sites, and a new one."""
    if request.method != "POST":
        return _site_list(request, SiteForm())
    return submit_form(
        request,
        SiteForm(request.POST),
        lambda data: services.save_site(None, by=current(request), **data),
        lambda site: f"Site {site.name} added: put its snippet on every page.",
        lambda form: _site_list(request, form, status=422),
        back=lambda site: reverse("web:site", args=[site.pk]),
    )


def _snippet_tag(site: Site) -> str:
    consent = ' data-consent="required"' if site.consent_required else ""
    return f'<script async src="{settings.PUBLIC_URL}/t/leadflow.js" data-site="{site.key}"{consent}></script>'


@site_managers_only
def site_detail(request: HttpRequest, site_id: int) -> HttpResponse:
    """A site's visitors, top pages and sources over the last 30 days, its snippet, and its settings."""
    site = get_object_or_404(selectors.sites_visible_to(current(request)), pk=site_id)
    fields = ("name", "consent_required", "pricing_paths", "is_active")
    initial: dict[str, Any] = {name: getattr(site, name) for name in fields} | {"allowed_origins": site.allowed_origins}
    form = SiteForm(request.POST if request.method == "POST" else None, initial=initial)

    def show(shown_form: SiteForm, status: int = 200) -> HttpResponse:
        context = {
            "site": site,
            "form": shown_form,
            "summary": selectors.site_summary(site),
            "page": page_of(request, selectors.site_visitors(site, known_only=request.GET.get("known") == "1")),
            "known_only": request.GET.get("known") == "1",
            "snippet": _snippet_tag(site),
        }
        return render(request, "web/tracking/site.html", context, status=status)

    if request.method != "POST":
        return show(form)
    return submit_form(
        request,
        form,
        lambda data: services.save_site(site, by=current(request), **data),
        "Site saved.",
        lambda failed: show(failed, status=422),
        back=reverse("web:site", args=[site.pk]),
    )


@site_managers_only
def visitor_detail(request: HttpRequest, site_id: int, visitor_id: int) -> HttpResponse:
    """The path one visitor took through the site, and who they are once known."""
    site = get_object_or_404(selectors.sites_visible_to(current(request)), pk=site_id)
    visitor = get_object_or_404(Visitor.objects.select_related("lead__contact"), site=site, pk=visitor_id)
    context = {"site": site, "visitor": visitor, "path": selectors.visitor_path(visitor)}
    return render(request, "web/tracking/visitor.html", context)
