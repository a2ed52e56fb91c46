"""A rep works the sales queue in the browser: accepts one qualified lead, rejects another with a reason."""

import pytest
from playwright.sync_api import expect

from leadflow.leads.models import Lead
from leadflow.leads.services import record_lifecycle_change
from leadflow.qualification.models import Handoff

from ..factories import ContactFactory, LeadFactory
from .conftest import log_in

# The browser talks to a live server in another thread, so the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def qualified(rep, first_name: str) -> Handoff:
    lead = LeadFactory(contact=ContactFactory(first_name=first_name, last_name="Lima"), owner=rep, team=rep.team)
    record_lifecycle_change(lead, to="prospect", by=None, reason="Score 72 reached the MQL threshold (60)")
    return Handoff.objects.get(lead=lead)


def test_a_rep_accepts_one_lead_and_rejects_another_from_the_queue(page, rep):
    accepted, rejected = qualified(rep, "Ana"), qualified(rep, "Bea")
    log_in(page, rep.username)

    page.get_by_role("link", name="Sales queue").click()
    expect(page.get_by_role("heading", name="Waiting for sales: 2")).to_be_visible()

    row = page.locator(f"#handoff-{accepted.pk}")
    row.get_by_role("button", name="Accept").click()
    expect(page.locator("#toast")).to_contain_text("Accepted: Ana Lima.")
    expect(row.get_by_text("Accepted", exact=True)).to_be_visible()

    row = page.locator(f"#handoff-{rejected.pk}")
    row.get_by_label("Why reject Bea Lima?").fill("Student project, no budget")
    row.get_by_role("button", name="Reject").click()
    expect(page.locator("#toast")).to_contain_text("Rejected, back to nurture: Bea Lima.")
    expect(row.get_by_text("Rejected", exact=True)).to_be_visible()
    expect(row).to_contain_text("Student project, no budget")

    expect(page.locator(f"#handoff-{accepted.pk}").get_by_text("Accepted", exact=True)).to_be_visible()
    accepted.refresh_from_db()
    rejected.refresh_from_db()
    assert (accepted.status, rejected.status) == ("accepted", "rejected")
    assert Lead.objects.get(pk=rejected.lead_id).lifecycle_stage == "recycled"


def test_a_lead_known_only_by_a_long_email_leaves_the_decision_in_view(page, rep):
    contact = ContactFactory(first_name="", last_name="", email="grace.brewster.hopper@hopper-analytics.example")
    lead = LeadFactory(contact=contact, owner=rep, team=rep.team)
    record_lifecycle_change(lead, to="prospect", by=None, reason="Qualified in a chat (Qualify visitors (BANT))")
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, rep.username)
    page.goto("/queue/")
    reject = page.get_by_role("button", name="Reject")
    expect(reject).to_be_visible()
    card = page.locator("section.card", has=reject).bounding_box()
    button = reject.bounding_box()
    assert card and button and button["x"] + button["width"] <= card["x"] + card["width"]  # not cut off by the card
