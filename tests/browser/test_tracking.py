"""The tracking snippet in a real browser, on a site served from a second origin: a visitor's pages are recorded,
join their lead when they arrive from a tracked email link (the score moves), and Do-Not-Track stores nothing."""

import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from leadflow.engagement.models import Event
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
def other_site(tmp_path, live_server, marketer):
    """A small website on its own origin (another port) whose pages carry the snippet."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(tmp_path)))
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    site = save_site(None, by=marketer, name="Demo shop", allowed_origins=origin, consent_required=False)
    links = " ".join(f'<a href="/{name}.html">{title}</a>' for name, title in PAGES.items())
    for name, title in PAGES.items():
        (tmp_path / f"{name}.html").write_text(
            f"<!doctype html><title>{title}</title><h1>{title}</h1><nav>{links}</nav>"
            f'<script src="{live_server.url}/t/leadflow.js" data-site="{site.key}"></script>'
        )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site, origin
    server.shutdown()


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def browse(page, origin, *names, query=""):
    for name in names:
        page.goto(f"{origin}/{name}.html{query}")
        page.wait_for_function("window.leadflow && window.leadflow.site")
        page.evaluate("leadflow.flush()")


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
