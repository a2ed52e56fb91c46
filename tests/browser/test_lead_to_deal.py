"""A rep works a lead from capture to a lost deal in the browser, and each step lands in the timeline."""

import re

import pytest
from playwright.sync_api import expect

from leadflow.leads.models import Lead
from leadflow.pipeline.models import Opportunity
from leadflow.pipeline.services import convert_lead

from ..factories import LeadFactory
from .conftest import log_in

# The browser talks to a live server in another thread, so the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deal(rep):
    opportunity, _ = convert_lead(LeadFactory(owner=rep, team=rep.team, company_name="Contoso"), by=rep)
    return opportunity


def drag(page, card, column) -> None:
    """Drag a board card onto a stage column with the mouse, as a person would, once the board has set up its drag
    and drop (on a busy machine the test could otherwise start dragging before the page's script ran)."""
    page.wait_for_function(
        "() => typeof Sortable !== 'undefined'"
        " && [...document.querySelectorAll('[data-board] .cards')].every((list) => Sortable.get(list))"
    )
    source = card.bounding_box()
    target = column.bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + 40, steps=12)
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + 50, steps=4)
    page.mouse.up()
    page.wait_for_load_state("networkidle")


def column(page, stage: str):
    header = page.locator(".column-head").get_by_text(stage, exact=True)
    return page.locator("section.column", has=header).locator(".cards")


def test_a_rep_takes_a_lead_from_capture_to_closed_lost(page, rep):
    log_in(page, rep.username)

    page.get_by_role("link", name="Leads", exact=True).click()
    page.get_by_role("link", name="+ New lead").click()
    page.get_by_label("First name").fill("Ana")
    page.get_by_label("Last name").fill("Lima")
    page.get_by_label("Email").fill("ana@northwind")
    page.get_by_label("Company").fill("Northwind")
    page.get_by_role("button", name="Capture lead").click()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()

    page.get_by_label("Email").fill("ana@northwind.example")
    page.get_by_role("button", name="Capture lead").click()
    expect(page.get_by_role("heading", name="Ana Lima")).to_be_visible()
    lead = Lead.objects.get(contact__email="ana@northwind.example")

    page.get_by_role("button", name="Move to prospect").click()
    expect(page.get_by_text("Moved to Prospect.")).to_be_visible()

    page.get_by_text("Convert to opportunity").click()
    page.get_by_label("Amount").fill("30000")
    page.get_by_role("button", name="Create opportunity").click()
    expect(page.get_by_text("Converted to an opportunity.")).to_be_visible()
    opportunity = Opportunity.objects.get(lead=lead)

    page.get_by_role("link", name="Pipeline", exact=True).click()
    card = f'[data-opportunity-id="{opportunity.pk}"]'
    drag(page, column(page, "Prospecting").locator(card), column(page, "Qualification"))
    expect(page.locator("#toast")).to_contain_text("to Qualification.")
    drag(page, column(page, "Qualification").locator(card), column(page, "Proposal"))
    expect(page.locator("#toast")).to_contain_text("to Proposal.")

    drag(page, column(page, "Proposal").locator(card), column(page, "Closed lost"))
    dialog = page.locator("#close-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close deal").click()
    expect(dialog.get_by_text("Choose a lost reason.")).to_be_visible()
    dialog.get_by_label("Lost reason").select_option(label="Price")
    dialog.get_by_label("Review note").fill("Went with a cheaper tool")
    dialog.get_by_role("button", name="Close deal").click()
    expect(page.locator("#toast")).to_contain_text("to Closed lost.")  # the server has answered, not just the page
    expect(column(page, "Closed lost").locator(card)).to_be_visible()

    page.goto(f"/leads/{lead.pk}/")
    timeline = page.locator(".timeline")
    for step in [
        "Captured as a lead",
        "Lead → Prospect",
        "Prospect → Opportunity",
        re.compile(r"Opportunity opened: .*"),
        re.compile(r": Prospecting → Qualification"),
        re.compile(r": Qualification → Proposal"),
        re.compile(r": Proposal → Closed lost"),
    ]:
        expect(timeline.get_by_text(step)).to_be_visible()
    opportunity.refresh_from_db()
    assert opportunity.lost_reason.name == "Price"


def test_cancelling_the_close_dialog_snaps_the_card_back(page, rep, deal):
    log_in(page, rep.username)
    page.goto("/pipeline/")
    card = f'[data-opportunity-id="{deal.pk}"]'
    drag(page, column(page, "Prospecting").locator(card), column(page, "Closed won"))
    page.locator("#close-dialog").get_by_role("button", name="Cancel").click()
    expect(column(page, "Prospecting").locator(card)).to_be_visible()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_a_deal_moves_from_the_keyboard_too(page, rep, deal):
    log_in(page, rep.username)
    page.goto("/pipeline/")
    card = f'[data-opportunity-id="{deal.pk}"]'
    chooser = page.get_by_label(f"Move {deal.name} to another stage")
    chooser.focus()
    chooser.select_option(label="Proposal")
    expect(page.locator("#toast")).to_contain_text("to Proposal.")
    expect(column(page, "Proposal").locator(card)).to_be_visible()
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal"


def test_a_refused_move_snaps_back_and_says_why(page, rep, marketer, deal):
    log_in(page, rep.username)
    page.goto("/pipeline/")
    Opportunity.objects.filter(pk=deal.pk).update(owner=marketer, team=None)  # reassigned meanwhile
    card = f'[data-opportunity-id="{deal.pk}"]'
    drag(page, column(page, "Prospecting").locator(card), column(page, "Proposal"))
    expect(page.locator("#toast")).to_contain_text("no longer yours")
    expect(column(page, "Prospecting").locator(card)).to_be_visible()


def test_a_rep_cannot_open_another_reps_lead(page, rep, other_rep):
    theirs = LeadFactory(owner=other_rep, team=other_rep.team)
    log_in(page, rep.username)
    response = page.goto(f"/leads/{theirs.pk}/")
    assert response.status == 404
