"""The website-visitors pages: marketing and admins add sites and read their visitors; sales do not see them."""

import json

import pytest
from django.test import Client

from leadflow.tracking.models import Site, Visitor
from leadflow.tracking.services import identity_token, save_site

from ..factories import LeadFactory

pytestmark = pytest.mark.django_db
ORIGIN = "https://www.example.com"


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def site(marketer):
    return save_site(None, by=marketer, name="Example", allowed_origins=ORIGIN, consent_required=False)


def visit(site, visitor, *paths, token=None):
    events = [{"id": f"{visitor}-{n}", "k": "page_view", "u": f"{ORIGIN}{path}"} for n, path in enumerate(paths)]
    body = {"v": visitor, "e": events} | ({"t": token} if token else {})
    Client().post(f"/t/{site.key}/collect", json.dumps(body), content_type="text/plain", HTTP_ORIGIN=ORIGIN)


def test_marketing_adds_a_site_and_gets_its_snippet(marketer):
    client = signed_in(marketer)
    response = client.post("/sites/", {
        "name": "Main site", "allowed_origins": ORIGIN, "pricing_paths": "/pricing", "consent_required": "on",
        "is_active": "on",
    })  # fmt: skip
    site = Site.objects.get()
    assert response.status_code == 302 and response.headers["Location"] == f"/sites/{site.pk}/"
    page = client.get(f"/sites/{site.pk}/").content.decode()
    assert f"data-site=&quot;{site.key}&quot; data-consent=&quot;required&quot;" in page  # shown as text


def test_a_bad_origin_is_shown_on_its_field(marketer):
    response = signed_in(marketer).post("/sites/", {"name": "Main", "allowed_origins": "not an origin"})
    assert response.status_code == 422 and b"is not an origin" in response.content
    assert not Site.objects.exists()


def test_the_site_page_shows_visitors_top_pages_and_a_known_visitor_s_path(site, marketer):
    lead = LeadFactory()
    visit(site, "visitor-anon-1", "/", "/pricing")
    visit(site, "visitor-known-1", "/", "/docs", "/pricing", token=identity_token(lead))
    client = signed_in(marketer)
    page = client.get(f"/sites/{site.pk}/").content.decode()
    assert "/pricing" in page and str(lead.contact) in page and "Anonymous visitor-" in page
    known = client.get(f"/sites/{site.pk}/?known=1").content.decode()
    assert str(lead.contact) in known and "Anonymous visi" not in known
    visitor = Visitor.objects.get(lead=lead)
    path = client.get(f"/sites/{site.pk}/visitors/{visitor.pk}/").content.decode()
    assert path.index("/docs") < path.index("/pricing") and f"/leads/{lead.pk}/" in path
    lead_page = signed_in(marketer).get(f"/leads/{lead.pk}/").content.decode()
    assert "Page visit: /docs" in lead_page and "via tracking" in lead_page


def test_sales_do_not_see_tracked_sites(site, rep, admin):
    client = signed_in(rep)
    assert client.get("/sites/").status_code == 404
    assert client.get(f"/sites/{site.pk}/").status_code == 404
    assert client.post("/sites/", {"name": "Mine", "allowed_origins": ORIGIN}).status_code == 404
    assert signed_in(admin).get(f"/sites/{site.pk}/").status_code == 200
