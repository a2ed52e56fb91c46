"""Every page of the demo world, as each role, on a laptop's 1366x768 screen: nothing is cut off or pushes the page
sideways, and the browser reports no error (a Content-Security-Policy violation is one)."""

import pytest
from playwright.sync_api import expect

from leadflow.demo.world import build_demo_world
from leadflow.nurture.services import save_template
from leadflow.users.models import Role, User

from ..factories import ContactFactory, LeadFactory
from ..pages import page_addresses
from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "demo-pass-123"

# Content that overflows a box that hides it is cut off, unless the box means to clip (an ellipsis or a line clamp)
# or scrolls (the pipeline board). Folded parts (<details>) are opened first.
CUT_OFF = """() => {
  document.querySelectorAll("details").forEach((details) => { details.open = true; });  // the folded forms too
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) found.push(`the page is ${root.scrollWidth}px wide`);
  for (const el of document.querySelectorAll("body *")) {
    const style = getComputedStyle(el);
    if (!["hidden", "clip"].includes(style.overflowX) || el.clientWidth < 2 || !el.checkVisibility()) continue;
    if (style.textOverflow === "ellipsis" || style.webkitLineClamp !== "none") continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "");
      found.push(`${name} cuts off ${el.scrollWidth - el.clientWidth}px`);
    }
  }
  return found;
}"""


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.MARKETING, Role.SALES])
def test_every_page_fits_a_laptop_and_runs_without_errors(browser, live_server, role):
    build_demo_world(seed=11, leads=120, password=PASSWORD)
    user = User.objects.filter(role=role, is_active=True).order_by("pk").first()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, user.username, PASSWORD)
    problems = []
    visited = 0
    for address in page_addresses(user):
        errors.clear()  # what the last page logged was checked (or it was not a page)
        response = page.goto(address)
        page.wait_for_load_state("networkidle")  # so this page's messages arrive before the next page's check
        if response is None or response.status == 404 or "text/html" not in response.headers.get("content-type", ""):
            continue  # not a page for this role, or not a page at all (a partial an htmx request loads)
        if "<html" not in (response.text() or "")[:200]:
            continue
        visited += 1
        problems += [f"{address}: {text}" for text in errors]
        problems += [f"{address}: {text}" for text in page.evaluate(CUT_OFF)]
    context.close()
    print(f"\n{role}: {visited} pages at 1366x768")
    assert visited >= 10
    assert not problems, "\n".join(problems)


def test_an_email_preview_keeps_its_inline_styles_under_the_policy(page, marketer, rep):
    LeadFactory(owner=rep, contact=ContactFactory(first_name="Ana"))
    template = save_template(
        None,
        by=marketer,
        name="Styled",
        subject="Hi",
        body='<p style="color: rgb(200, 0, 0)">Hi {{ contact.first_name }}</p>',
    )
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, marketer.username)
    page.goto(f"/nurture/templates/{template.pk}/")
    paragraph = page.frame_locator("iframe.email-html").locator("p")
    expect(paragraph).to_have_text("Hi Ana")
    assert paragraph.evaluate("p => getComputedStyle(p).color") == "rgb(200, 0, 0)"
    assert not errors
