"""The analytics dashboard draws every chart in a real browser."""

import pytest
from playwright.sync_api import expect

from leadflow.pipeline.services import close_opportunity, convert_lead

from ..factories import LeadFactory
from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_dashboard_draws_its_charts(page, admin, rep):
    for won in (True, False):
        deal, _ = convert_lead(LeadFactory(owner=rep, team=rep.team, company_name="Co"), by=rep, amount=9000)
        close_opportunity(deal, won=won, by=rep, lost_reason=None if won else "Price")
    convert_lead(LeadFactory(owner=rep, team=rep.team, company_name="Open Co"), by=rep, amount=5000)
    log_in(page, admin.username)
    page.goto("/analytics/")
    for chart in ("funnel", "pipeline", "forecast", "sources"):
        expect(page.locator(f'canvas[data-chart="{chart}"]')).to_have_attribute("data-ready", "true")
    expect(page.get_by_text("50.0%")).to_be_visible()  # the win rate tile
