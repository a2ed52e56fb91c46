"""The tracking snippet in a real browser, on a site served from a second origin: a visitor's pages are recorded and
join their lead when they send the embedded form or arrive from a tracked email link (the score moves), and
Do-Not-Track stores nothing."""

import contextlib
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import OperationalError
from playwright.sync_api import expect

from leadflow.capture.services import save_form
from leadflow.engagement.models import Event
from leadflow.leads.models import Lead
from leadflow.scoring.models import LeadScore
from leadflow.scoring.services import create_rule
from leadflow.tracking.models import Hit, Visitor
from leadflow.tracking.services import identity_token, save_site

from ..factories import LeadFactory
from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)
PAGES = {"index": "Home", "product": "Product", "pricing": "Pricing"}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def other_site(tmp_path, live_server, marketer, settings):
    """A small website on its own origin (another port) whose pages carry the snippet; the pricing page also embeds
    a request-a-demo form."""
    settings.LEADFLOW_CAPTURE_MIN_FILL_SECONDS = 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(tmp_path)))
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    site = save_site(None, by=marketer, name="Demo shop", allowed_origins=origin, consent_required=False)
    form = save_form(None, by=marketer, name="Request a demo", allowed_origins=origin,
                     fields=[{"label": "Work email", "target": "email"}])  # fmt: skip
    links = " ".join(f'<a href="/{name}.html">{title}</a>' for name, title in PAGES.items())
    for name, title in PAGES.items():
        embed = f'<script src="{live_server.url}/forms/{form.key}.js"></script>' if name == "pricing" else ""
        (tmp_path / f"{name}.html").write_text(
            f"<!doctype html><title>{title}</title><h1>{title}</h1><nav>{links}</nav>{embed}"
            f'<script src="{live_server.url}/t/leadflow.js" data-site="{site.key}"></script>'
        )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site, origin
    server.shutdown()


def wait_for(condition, seconds=10.0):
    """Poll the database until `condition()` holds, while the live server's threads write to it (a read refused
    because the database is busy is tried again)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OperationalError):
            if condition():
                return True
        time.sleep(0.1)
    return False


def browse(page, origin, *names, query=""):
    for name in names:
        page.goto(f"{origin}/{name}.html{query}")
        page.wait_for_function("window.leadflow && window.leadflow.site")
        page.evaluate("leadflow.flush()")


def test_a_visitor_who_sends_the_embedded_form_brings_their_earlier_pages(page, browser, other_site, marketer):
    _site, origin = other_site
    create_rule(by=marketer, name="Pricing page", kind="engagement", event_type="pricing_page_view", points=10)
    visit = browser.new_context(viewport={"width": 1366, "height": 768})
    visitor_page = visit.new_page()
    browse(visitor_page, origin, "index", "product", "pricing")
    assert wait_for(lambda: Hit.objects.count() == 3)
    assert not Event.objects.filter(source="tracking").exists()  # anonymous so far

    visitor_page.get_by_label("Work email").fill("grace@hopper.example")
    visitor_page.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    visitor_page.get_by_role("button", name="Send").click()
    visitor_page.get_by_text("Thank you").wait_for()
    lead = Lead.objects.get(contact__email="grace@hopper.example")
    pages = Event.objects.filter(lead=lead, source="tracking").order_by("occurred_at").values_list("properties__page")
    assert [page for (page,) in pages] == ["/index.html", "/product.html", "/pricing.html"]
    assert Visitor.objects.get().identified_by == "form"
    assert LeadScore.objects.get(lead=lead).total >= 10  # the pricing page, seen before they said who they were
    browse(visitor_page, origin, "pricing")  # later visits are theirs at once
    assert wait_for(lambda: Event.objects.filter(lead=lead, source="tracking").count() == 4)
    visit.close()

    log_in(page, marketer.username)
    page.goto(f"/leads/{lead.pk}/")
    expect(page.get_by_text("Page visit: /product.html")).to_be_visible()
    expect(page.get_by_text("Pricing page view: /pricing.html").first).to_be_visible()


def test_a_visitor_s_pages_join_the_lead_they_turn_out_to_be(page, browser, other_site, live_server, marketer):
    site, origin = other_site
    lead = LeadFactory()
    create_rule(by=marketer, name="Pricing page", kind="engagement", event_type="pricing_page_view", points=10)
    visit = browser.new_context(viewport={"width": 1366, "height": 768})
    visitor_page = visit.new_page()

    browse(visitor_page, origin, "index", "product", "pricing")
    assert wait_for(lambda: Hit.objects.count() == 3)
    assert Visitor.objects.get().lead is None

    # Back a day later from a nurture email's tracked link, which carries a signed token to tracked sites.
    browse(visitor_page, origin, "pricing", query=f"?lf_id={identity_token(lead)}")
    assert wait_for(lambda: Event.objects.filter(lead=lead, source="tracking").count() == 4)
    assert "lf_id" not in visitor_page.url  # taken out of the address bar
    assert Visitor.objects.get().lead == lead and LeadScore.objects.get(lead=lead).total >= 20
    visit.close()

    log_in(page, marketer.username)
    page.goto(f"/leads/{lead.pk}/")
    expect(page.get_by_text("Page visit: /index.html")).to_be_visible()
    expect(page.get_by_text("Page visit: /product.html")).to_be_visible()
    expect(page.get_by_text("Pricing page view: /pricing.html").first).to_be_visible()
    page.goto(f"/sites/{site.pk}/")
    expect(page.get_by_role("link", name=str(lead.contact))).to_be_visible()


def test_under_do_not_track_nothing_is_stored(browser, other_site):
    _site, origin = other_site
    visit = browser.new_context(extra_http_headers={"DNT": "1"})
    visit.add_init_script("Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})")
    visitor_page = visit.new_page()
    browse(visitor_page, origin, "index", "pricing")
    visitor_page.get_by_role("link", name="Product").click()
    visitor_page.wait_for_load_state()
    time.sleep(1.5)  # what would have been sent has been by now
    assert not Hit.objects.exists() and not Visitor.objects.exists()
    assert visitor_page.evaluate("document.cookie") == ""  # not even a visitor id
    visit.close()
