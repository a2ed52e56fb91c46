"""A marketer builds a two-step sequence in the browser: an email, then a wait, both shown in the flow."""

import pytest
from playwright.sync_api import expect

from leadflow.nurture.models import Sequence
from leadflow.nurture.services import save_template

from .conftest import log_in

# The browser talks to a live server in another thread, so the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_marketer_builds_a_sequence_of_an_email_and_a_wait(page, marketer):
    save_template(None, by=marketer, name="Welcome", subject="Hi {{ contact.first_name }}", body="<p>Hello</p>")
    log_in(page, marketer.username)

    page.get_by_role("link", name="Nurture").click()
    page.get_by_label("Name").fill("Welcome series")
    page.get_by_role("button", name="Create sequence").click()
    expect(page.get_by_text("Sequence created: add its steps, then start it.")).to_be_visible()
    expect(page.get_by_text("No steps yet: add the first below.")).to_be_visible()

    page.get_by_text("Send email", exact=True).click()
    email_form = page.get_by_role("form", name="Add a step: Send email")
    email_form.get_by_label("Template").select_option(label="Welcome")
    email_form.get_by_role("button", name="Add send email step").click()
    expect(page.get_by_text("Step 1 added: send email.")).to_be_visible()

    page.get_by_text("Wait", exact=True).click()
    wait_form = page.get_by_role("form", name="Add a step: Wait")
    wait_form.get_by_role("button", name="Add wait step").click()
    expect(wait_form.get_by_text("Wait some days or hours, or until a weekday and hour.")).to_be_visible()
    wait_form = page.get_by_role("form", name="Add a step: Wait")
    wait_form.get_by_label("Days").fill("3")
    wait_form.get_by_role("button", name="Add wait step").click()
    expect(page.get_by_text("Step 2 added: wait.")).to_be_visible()

    flow = page.locator("ol.flow")
    expect(flow.locator("#step-1")).to_contain_text("Send email")
    expect(flow.locator("#step-1")).to_contain_text("“Welcome”")
    expect(flow.locator("#step-2")).to_contain_text("Wait")
    expect(flow.locator("#step-2")).to_contain_text("3 days")

    page.get_by_role("button", name="Start sequence").click()
    expect(page.get_by_text("Welcome series started.")).to_be_visible()
    sequence = Sequence.objects.get(name="Welcome series")
    assert sequence.is_active
    assert [(step.kind, step.config) for step in sequence.steps.all()] == [("email", {}), ("wait", {"days": 3})]
