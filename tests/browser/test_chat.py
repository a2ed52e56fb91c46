"""The chat widget in Chromium on a site of another origin (a second server on another port) that carries the
tracking snippet too: a visitor who answers the default script with qualifying answers, across two pages and by
keyboard, arrives in the sales queue with the transcript; a visitor with no budget stays a lead and is nurtured."""

import threading
from datetime import date, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from leadflow.chat.models import ChatScript, Conversation
from leadflow.chat.services import save_script
from leadflow.leads.models import Lead
from leadflow.nurture.models import Enrolment
from leadflow.nurture.services import add_step, save_sequence
from leadflow.qualification.models import AssignmentRule, Handoff, QualificationSettings
from leadflow.tracking.models import Visitor
from leadflow.tracking.services import save_site
from leadflow.users.models import Notification

from .conftest import log_in
from .test_tracking import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def shop(tmp_path, live_server, marketer):
    """The sample product's site on its own origin: two pages with the tracking snippet and the chat widget; the
    business open around the clock, the default script nurturing those it does not hand to sales."""
    QualificationSettings.objects.update_or_create(
        pk=1, defaults={"day_starts": 0, "day_ends": 24, "business_days": [0, 1, 2, 3, 4, 5, 6]}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(tmp_path)))
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    site = save_site(None, by=marketer, name="Ledgerly", allowed_origins=origin, consent_required=False)
    sequence = save_sequence(None, by=marketer, name="Not ready yet")
    add_step(sequence, by=marketer, kind="wait", config={"days": 3})
    save_sequence(sequence, by=marketer, is_active=True)
    save_script(ChatScript.objects.get(), by=marketer, sequence=sequence)
    for name, title in (("product", "Close the books in days"), ("pricing", "Pricing")):
        (tmp_path / f"{name}.html").write_text(
            f"<!doctype html><title>{title}</title><h1>{title}</h1><a href='/pricing.html'>Pricing</a>"
            f'<script async src="{live_server.url}/t/leadflow.js" data-site="{site.key}"></script>'
            f'<script async src="{live_server.url}/chat/widget.js" data-site="{site.key}"></script>'
        )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield origin, sequence
    server.shutdown()
    server.server_close()


def visitor_page(browser, url, width=1366, height=768):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(15_000)
    page.goto(url)
    return page


def say(page, text):
    """Type an answer and press Enter, as a visitor on the keyboard does."""
    box = page.get_by_label("Your answer")
    expect(box).to_be_focused()
    box.fill(text)
    box.press("Enter")


def choose(page, label):
    page.get_by_role("group", name="Answers").get_by_role("button", name=label).click()


def test_a_qualified_visitor_arrives_in_the_sales_queue_with_the_transcript(browser, page, shop, rep):
    origin, _ = shop
    AssignmentRule.objects.create(name="Website to Sam", user=rep)
    visitor = visitor_page(browser, f"{origin}/product.html")
    launcher = visitor.get_by_role("button", name="Questions? Chat with us")
    launcher.focus()
    visitor.keyboard.press("Enter")
    dialog = visitor.get_by_role("dialog", name="Questions? Chat with us")
    expect(dialog.get_by_text("What are you hoping to solve?")).to_be_visible()
    say(visitor, "Month-end close takes two weeks")
    say(visitor, "grace@")
    expect(dialog.get_by_role("alert")).to_contain_text("does not look like an email")
    say(visitor, "grace@hopper.example")
    expect(dialog.get_by_text("Is there a budget set aside for this?")).to_be_visible()
    visitor.keyboard.press("Tab")  # from the answer box's last focus to the first button
    choose(visitor, "Yes, we have a budget")
    say(visitor, "40k")
    expect(dialog.get_by_text("Who makes the decision to buy?")).to_be_visible()

    # On to another page: the conversation comes along, open where it was.
    visitor.goto(f"{origin}/pricing.html")
    expect(visitor.get_by_role("dialog").get_by_text("Month-end close takes two weeks")).to_be_visible()
    expect(visitor.get_by_text("Who makes the decision to buy?")).to_be_visible()
    choose(visitor, "I do")
    visitor.get_by_label("Your answer").fill((date.today() + timedelta(days=45)).isoformat())
    visitor.get_by_label("Your answer").press("Enter")
    say(visitor, "Finance director")
    choose(visitor, "50-199")
    choose(visitor, "Talk to sales")
    expect(visitor.get_by_text("Someone from our sales team will be in touch shortly.")).to_be_visible()
    visitor.keyboard.press("Escape")
    expect(visitor.get_by_role("dialog")).to_be_hidden()

    lead = Lead.objects.get(contact__email="grace@hopper.example")
    assert lead.lifecycle_stage == "prospect" and lead.budget_amount == 40000
    assert Handoff.objects.get(lead=lead).qualified_by == "chat" and lead.owner == rep
    assert Notification.objects.filter(user=rep, text__startswith="Qualified in a chat").exists()
    conversation = Conversation.objects.get()
    assert conversation.is_handed_off and conversation.visitor_uid
    assert wait_for(lambda: Visitor.objects.filter(uid=conversation.visitor_uid, lead=lead).exists())

    log_in(page, rep.username)
    page.goto("/queue/")
    row = page.locator(f"#handoff-{Handoff.objects.get(lead=lead).pk}")
    expect(row).to_contain_text("Qualified in a chat")
    row.get_by_role("link", name="Chat transcript").click()
    expect(page.get_by_text("Month-end close takes two weeks")).to_be_visible()
    expect(page.get_by_role("link", name=str(lead.contact))).to_be_visible()


def test_a_visitor_with_no_budget_stays_a_lead_and_is_nurtured(browser, shop):
    origin, sequence = shop
    visitor = visitor_page(browser, f"{origin}/pricing.html", width=390, height=740)  # a phone
    visitor.get_by_role("button", name="Questions? Chat with us").click()
    say(visitor, "Just curious")
    say(visitor, "linus@example.org")
    choose(visitor, "No budget yet")
    expect(visitor.get_by_text("We will keep in touch")).to_be_visible()
    lead = Lead.objects.get(contact__email="linus@example.org")
    assert lead.lifecycle_stage == "lead" and not Handoff.objects.filter(lead=lead).exists()
    assert Enrolment.objects.filter(lead=lead, sequence=sequence).exists()
