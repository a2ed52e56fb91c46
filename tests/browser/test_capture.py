"""The embedded form on a site of another origin (a second server on another port), in Chromium: a visitor's lead
arrives with its consent and door and confirms by the emailed link; a site not allowed, the honeypot and the rate
limit are refused."""

import re
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

from leadflow.capture.models import Refusal
from leadflow.capture.services import save_form
from leadflow.consent.models import Consent, ConsentStatus
from leadflow.leads.models import Lead

from ..nurture.test_smtp import smtp  # noqa: F401 - the loopback SMTP server fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(tmp_path):
    """A static site on its own origin; returns (origin, write(name, html))."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", lambda name, html: (tmp_path / name).write_text(html)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def demo_form(marketer, site, settings):
    settings.LEADFLOW_CAPTURE_MIN_FILL_SECONDS = 1
    return save_form(
        None, by=marketer, name="Request a demo", title="Request a demo", is_explicit_intent=True,
        consent_wording="Email me product news.", double_opt_in=True, allowed_origins=site[0],
        fields=[{"label": "Work email", "target": "email"}, {"label": "Company", "target": "company_name"}],
    )  # fmt: skip


def _page_with(site, live_server, form, name="product.html"):
    site[1](name, f'<!doctype html><title>Product</title><h1>Product</h1>'
                  f'<script src="{live_server.url}/forms/{form.key}.js"></script>')  # fmt: skip
    return f"{site[0]}/{name}?utm_source=ads&utm_campaign=spring"


def test_a_visitor_fills_the_embedded_form_and_confirms_by_email(page, site, live_server, demo_form, smtp, settings):  # noqa: F811
    inbox, port = smtp
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.PUBLIC_URL = "127.0.0.1", port, live_server.url
    page.goto(_page_with(site, live_server, demo_form))
    page.get_by_label("Work email").fill("ada@lovelace.io")
    page.get_by_label("Company").fill("Analytical Engines")
    page.get_by_label("Email me product news.").check()
    page.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Thank you. We will be in touch shortly.").wait_for()

    lead = Lead.objects.get(contact__email="ada@lovelace.io")
    assert lead.company_name == "Analytical Engines" and lead.utm_campaign == "spring"
    assert lead.lifecycle_stage == "prospect"
    assert lead.source_detail == "Form: Request a demo (embedded form)"
    assert Consent.objects.get(contact=lead.contact).status == ConsentStatus.AWAITING_CONFIRMATION

    (message,) = inbox.messages
    link = re.search(r"(http://\S+/f/confirm/\S+/)", message.get_content())[1]
    page.goto(link)
    page.get_by_text("Thank you, you are confirmed").wait_for()
    consent = Consent.objects.get(contact=lead.contact)
    assert consent.status == ConsentStatus.GIVEN and consent.wording == "Email me product news."


def test_a_site_not_allowed_is_refused(page, site, live_server, demo_form):
    demo_form.allowed_origins = "https://www.example.com"
    demo_form.save()
    page.goto(_page_with(site, live_server, demo_form))
    page.get_by_text("This form is not enabled for this site.").wait_for()
    status = page.evaluate(
        """async ([url, token]) => {
            try {
              const body = new URLSearchParams({_lf_token: token, email: "x@y.io"});
              const r = await fetch(url, {method: "POST", body: body});
              return r.status;
            } catch (e) { return "blocked"; }
        }""",
        [f"{live_server.url}/forms/{demo_form.key}/submit", "t"],
    )
    assert status == "blocked"  # refused, and without CORS the page may not even read the answer
    assert not Lead.objects.exists()
    assert Refusal.objects.get(form=demo_form).reason == "origin"


def test_the_honeypot_and_the_rate_limit_refuse_a_bot(page, site, live_server, demo_form, settings):
    settings.LEADFLOW_CAPTURE_RATE_PER_MINUTE = 3
    cache.clear()  # earlier tests this minute counted submissions from the same address
    page.goto(_page_with(site, live_server, demo_form))
    page.get_by_label("Work email").fill("bot@spam.example")
    page.evaluate("document.querySelector('input[name=_lf_website]').value = 'http://spam.example'")
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Send").click()
    page.get_by_text("This submission was refused.").wait_for()
    for _ in range(3):
        page.get_by_role("button", name="Send").click()
        page.wait_for_function("document.querySelector('.lf-status').textContent !== 'Sending…'")
    page.get_by_text("Too many submissions.").wait_for()
    assert not Lead.objects.exists()
    counts = dict(Refusal.objects.filter(form=demo_form).values_list("reason", "count"))
    assert counts == {"honeypot": 3, "rate_limit": 1}
