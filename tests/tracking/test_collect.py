"""Beacons from the snippet: origins, Do-Not-Track, validation, batching, idempotency and the rate limit."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from leadflow.tracking.models import Hit, Site, Visitor
from leadflow.tracking.services import MAX_EVENTS, collect, save_site

pytestmark = pytest.mark.django_db
ORIGIN = "https://www.example.com"
PAGE = {"id": "1", "k": "page_view", "u": f"{ORIGIN}/"}


@pytest.fixture
def site(marketer):
    return save_site(None, by=marketer, name="Example", allowed_origins=f"{ORIGIN}\nhttps://shop.example.com",
                     consent_required=False)  # fmt: skip


def view(path, n=1, **extra):
    return {"id": f"e-{path}-{n}", "k": "page_view", "u": f"{ORIGIN}{path}", "ti": path.strip("/"), **extra}


def beacon(site, *events, visitor="visitor-0001", origin=ORIGIN, client=None, **headers):
    body = json.dumps({"v": visitor, "e": list(events)})
    if origin:
        headers["HTTP_ORIGIN"] = origin
    return (client or Client()).post(f"/t/{site.key}/collect", body, content_type="text/plain", **headers)


def test_a_beacon_from_a_listed_origin_stores_its_events_for_the_visitor(site):
    response = beacon(site, view("/"), view("/product", ti="Product"), view("/pricing?utm_source=ads&utm_medium=cpc"))
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    visitor = Visitor.objects.get()
    assert (visitor.site, visitor.uid, visitor.lead) == (site, "visitor-0001", None)
    hits = list(Hit.objects.order_by("path").values_list("path", "source", "utm"))
    utm = {"utm_source": "ads", "utm_medium": "cpc"}
    assert hits == [("/", "", {}), ("/pricing", "ads", utm), ("/product", "", {})]


def test_the_referer_stands_in_for_a_missing_origin(site):
    assert beacon(site, view("/"), origin="", HTTP_REFERER=f"{ORIGIN}/some/page").status_code == 204
    assert Hit.objects.count() == 1


@pytest.mark.parametrize("origin", ["https://evil.example.net", "http://www.example.com", "null", ""])
def test_a_page_of_another_origin_may_not_send(site, origin):
    response = beacon(site, view("/"), origin=origin)
    assert response.status_code == 403 and "origin" in response.json()["errors"]
    assert "Access-Control-Allow-Origin" not in response.headers
    assert not Hit.objects.exists() and not Visitor.objects.exists()


def test_an_unknown_or_paused_site_is_not_found(site, marketer):
    assert Client().post("/t/no-such-key/collect", "{}", content_type="text/plain").status_code == 404
    save_site(site, by=marketer, is_active=False)
    assert beacon(site, view("/")).status_code == 404


@pytest.mark.parametrize("header", [{"HTTP_DNT": "1"}, {"HTTP_SEC_GPC": "1"}])
def test_do_not_track_and_global_privacy_control_store_nothing(site, header):
    assert beacon(site, view("/"), **header).status_code == 204
    assert not Hit.objects.exists() and not Visitor.objects.exists()


def test_a_preflight_is_answered_for_a_listed_origin(site):
    response = Client().options(f"/t/{site.key}/collect", HTTP_ORIGIN="https://shop.example.com")
    assert response.status_code == 204 and response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"


def test_a_beacon_holds_at_most_twenty_events(site):
    assert beacon(site, *[view("/", n) for n in range(MAX_EVENTS)]).status_code == 204
    response = beacon(site, *[view("/more", n) for n in range(MAX_EVENTS + 1)])
    assert response.status_code == 400 and "e" in response.json()["errors"]
    assert Hit.objects.count() == MAX_EVENTS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"v": "visitor-0001", "e": [{"id": "1", "k": "teleport", "u": f"{ORIGIN}/"}]}, "events[0].k"),
        ({"v": "visitor-0001", "e": [{"id": "1", "k": "page_view", "u": "javascript:alert(1)"}]}, "events[0].u"),
        ({"v": "visitor-0001", "e": [{"k": "page_view", "u": f"{ORIGIN}/"}]}, "events[0].id"),
        ({"v": "visitor-0001", "e": [{"id": "1", "k": "custom", "u": f"{ORIGIN}/"}]}, "events[0].n"),
        ({"v": "visitor-0001", "e": [PAGE | {"at": "noon"}]}, "events[0].at"),
        ({"v": "visitor-0001", "e": [PAGE | {"p": {"x": [1]}}]}, "events[0].p"),
        ({"v": "<script>", "e": [PAGE]}, "v"),
        ({"v": "visitor-0001", "e": []}, "e"),
        ({"v": "visitor-0001", "e": [PAGE | {"ti": "x" * 301}]}, "events[0].ti"),
        (["not", "an", "object"], "body"),
    ],
)  # fmt: skip
def test_bad_beacons_are_refused_naming_the_field(site, body, field):
    response = Client().post(f"/t/{site.key}/collect", json.dumps(body), content_type="text/plain", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not Hit.objects.exists()


def test_a_body_that_is_not_json_is_refused(site):
    response = Client().post(f"/t/{site.key}/collect", "{v:", content_type="text/plain", HTTP_ORIGIN=ORIGIN)
    assert response.status_code == 400 and response.json()["errors"] == {"body": ["Not JSON."]}


def test_a_beacon_sent_twice_is_stored_once(site):
    events = [view("/", 1), view("/product", 2), view("/", 1)]  # the same event twice in one beacon too
    assert beacon(site, *events).status_code == 204
    assert beacon(site, *events).status_code == 204
    assert Hit.objects.count() == 2


def test_a_visitor_s_last_sighting_moves_by_the_minute_not_by_the_beacon(site):
    start = timezone.now()
    collect(site, {"v": "visitor-0001", "e": [view("/", 1)]}, at=start)
    collect(site, {"v": "visitor-0001", "e": [view("/", 2)]}, at=start + timedelta(seconds=59))
    assert Visitor.objects.get().last_seen == start
    collect(site, {"v": "visitor-0001", "e": [view("/", 3)]}, at=start + timedelta(seconds=61))
    visitor = Visitor.objects.get()
    assert (visitor.first_seen, visitor.last_seen) == (start, start + timedelta(seconds=61))
    assert Hit.objects.count() == 3


def test_two_visitors_are_kept_apart(site):
    beacon(site, view("/"), visitor="visitor-0001")
    beacon(site, view("/"), visitor="visitor-0002")
    assert Visitor.objects.count() == 2 and Hit.objects.count() == 2


def test_one_address_is_limited_per_minute(site, settings):
    settings.LEADFLOW_TRACKING_RATE_PER_MINUTE = 2
    cache.clear()  # earlier tests' beacons came from the same test address
    assert [beacon(site, view("/", n)).status_code for n in range(3)] == [204, 204, 429]
    assert Hit.objects.count() == 2


def test_the_snippet_is_served_to_any_page_and_small():
    import gzip

    response = Client().get("/t/leadflow.js")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert len(gzip.compress(response.content)) < 5 * 1024


def test_origins_are_checked_when_a_site_is_saved(marketer, rep):
    from leadflow.errors import InvalidInput, NotAllowed

    with pytest.raises(InvalidInput) as refused:
        save_site(None, by=marketer, name="Bad", allowed_origins="https://example.com/path")
    assert "allowed_origins" in refused.value.errors
    with pytest.raises(NotAllowed):
        save_site(None, by=rep, name="Mine", allowed_origins=ORIGIN)
    site = save_site(None, by=marketer, name="Good", allowed_origins="HTTPS://Example.com/\nhttps://example.com")
    assert site.origins == ["https://example.com"] and Site.objects.count() == 1


def test_pages_of_this_server_itself_may_send(site):
    assert beacon(site, view("/"), origin="http://testserver").status_code == 204  # the demo site, say
