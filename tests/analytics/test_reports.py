"""Analytics on hand-built histories: each figure, empty data, a single stage, re-opened deals."""

import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from leadflow.analytics import selectors
from leadflow.analytics.selectors import Scope
from leadflow.leads.models import Lead
from leadflow.leads.services import refresh_lead_history, transition_lead
from leadflow.pipeline.models import ForecastSnapshot, ForecastSnapshotDeal, Opportunity
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import (
    close_opportunity,
    convert_lead,
    move_opportunity,
    refresh_deal_history,
    reopen_opportunity,
    take_forecast_snapshots,
)

from ..factories import LeadFactory

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def stage(name):
    return default_pipeline().stages.get(name=name)


def deal_for(rep, *, amount, opened, source="inbound_marketing"):
    """A lead captured `opened` ago and converted then (history rows back-dated accordingly)."""
    lead = LeadFactory(owner=rep, team=rep.team, company_name="Co", created_at=opened, source=source)
    deal, _ = convert_lead(lead, by=rep, amount=amount)
    Opportunity.objects.filter(pk=deal.pk).update(created_at=opened)
    deal.stage_changes.update(at=opened)
    lead.stage_changes.filter(to_stage="opportunity").update(at=opened)
    refresh_deal_history([deal.pk])
    refresh_lead_history([lead.pk])
    deal.refresh_from_db()
    return deal


def test_empty_data_gives_zeros_and_no_rates(admin):
    figures = selectors.kpis(Scope(user=admin))
    assert (figures["leads"], figures["opportunities"], figures["won"]) == (0, 0, 0)
    assert figures["win_rate"] is None and figures["avg_sales_cycle_days"] is None
    assert selectors.funnel(Scope(user=admin)) == []
    assert selectors.forecast(Scope(user=admin), default_pipeline()) == []


def test_win_rate_cycle_and_revenue(admin, rep):
    now = timezone.now()
    won = deal_for(rep, amount=10000, opened=now - 30 * DAY)
    close_opportunity(won, won=True, by=rep, at=now - 10 * DAY)
    lost = deal_for(rep, amount=5000, opened=now - 5 * DAY)
    close_opportunity(lost, won=False, by=rep, lost_reason="Price")
    deal_for(rep, amount=7000, opened=now)
    figures = selectors.kpis(Scope(user=admin))
    assert (figures["won"], figures["lost"], figures["opportunities"]) == (1, 1, 3)
    assert figures["win_rate"] == 0.5
    assert figures["avg_sales_cycle_days"] == 20.0
    assert (figures["revenue_won"], figures["avg_deal_size_won"]) == (10000.0, 10000.0)
    assert figures["lead_to_customer_rate"] == round(1 / 3, 4)


def test_the_funnel_counts_skipped_steps_as_passed(admin, rep):
    prospect = LeadFactory(owner=rep)
    transition_lead(prospect, to="prospect", by=rep)
    convert_lead(LeadFactory(owner=rep, company_name="Co"), by=rep)  # lead → opportunity, skipping prospect
    LeadFactory(owner=rep)
    row = selectors.funnel(Scope(user=admin))[0]
    assert (row["lead"], row["prospect"], row["opportunity"], row["customer"]) == (3, 2, 1, 0)
    assert row["prospect_to_opportunity"] == 0.5


def test_pipeline_by_stage_weights_by_probability(admin, rep):
    deal = deal_for(rep, amount=10000, opened=timezone.now())
    move_opportunity(deal, stage=stage("Proposal"), by=rep)
    rows = {row["stage"]: row for row in selectors.pipeline_by_stage(Scope(user=admin), default_pipeline())}
    assert rows["Proposal"] == {"stage": "Proposal", "probability": 50, "is_closed": False, "count": 1,
                                "value": 10000.0, "weighted_value": 5000.0}  # fmt: skip
    assert rows["Negotiation"]["count"] == 0


def test_time_in_stage_and_drop_rate_from_the_history(admin, rep):
    now = timezone.now()
    deal = deal_for(rep, amount=1000, opened=now - 10 * DAY)
    move_opportunity(deal, stage=stage("Proposal"), by=rep, at=now - 6 * DAY)
    close_opportunity(deal, won=False, by=rep, lost_reason="Price", at=now - 2 * DAY)
    velocity = selectors.velocity(Scope(user=admin), default_pipeline())
    rows = {row["stage"]: row for row in velocity["stages"]}
    assert rows["Prospecting"]["avg_days"] == 4.0 and rows["Proposal"]["avg_days"] == 4.0
    assert rows["Proposal"]["drop_rate"] == 1.0 and velocity["bottlenecks"]["most_drop"] == "Proposal"


def test_a_reopened_deal_counts_each_spell(admin, rep):
    now = timezone.now()
    deal = deal_for(rep, amount=1000, opened=now - 10 * DAY)
    close_opportunity(deal, won=False, by=rep, lost_reason="Price", at=now - 8 * DAY)
    reopen_opportunity(deal, by=rep)
    velocity = selectors.velocity(Scope(user=admin), default_pipeline())
    prospecting = next(row for row in velocity["stages"] if row["stage"] == "Prospecting")
    assert prospecting["reached"] == 1 and prospecting["open_now"] == 1
    assert selectors.kpis(Scope(user=admin))["lost"] == 0  # re-opened: no longer lost


def test_stale_deals_come_overdue_then_never_touched_then_longest_quiet(admin, rep):
    now = timezone.now()
    overdue, untouched, also_untouched, quiet, quieter, busy = (
        deal_for(rep, amount=1000, opened=now - 60 * DAY) for _ in range(6)
    )
    Opportunity.objects.filter(pk=overdue.pk).update(expected_close_date=(now - DAY).date())
    for deal, touched in ((quiet, now - 40 * DAY), (quieter, now - 50 * DAY), (busy, now - DAY)):
        Lead.objects.filter(pk=deal.lead_id).update(last_activity_at=touched)
    Lead.objects.filter(pk__in=[untouched.lead_id, also_untouched.lead_id]).update(last_activity_at=None)
    stale = selectors.stale_deals(Scope(user=admin))
    assert [row["id"] for row in stale] == [overdue.pk, untouched.pk, also_untouched.pk, quieter.pk, quiet.pk]
    assert stale[0]["why"] == "past expected close" and stale[-1]["why"] == "no activity for 30+ days"


def test_the_forecast_weights_by_stage_and_by_history(admin, rep):
    now = timezone.now()
    for won in (True, False):
        closed = deal_for(rep, amount=1000, opened=now - 20 * DAY)
        close_opportunity(closed, won=won, by=rep, lost_reason=None if won else "Price")
    open_deal = deal_for(rep, amount=10000, opened=now)
    Opportunity.objects.filter(pk=open_deal.pk).update(expected_close_date=(now + 40 * DAY).date())
    row = selectors.forecast(Scope(user=admin), default_pipeline())[0]
    assert row["month"] == (now + 40 * DAY).strftime("%Y-%m")
    assert row["weighted_by_stage"] == 1000.0  # 10 % of 10,000
    assert row["weighted_by_history"] == 5000.0  # half the deals that passed Prospecting were won
    assert row["pipeline"] == 10000.0 and row["commit"] == 0


def test_a_rep_sees_only_their_own_figures(rep, other_rep):
    deal_for(rep, amount=1000, opened=timezone.now())
    assert selectors.kpis(Scope(user=other_rep))["opportunities"] == 0
    assert selectors.kpis(Scope(user=rep))["opportunities"] == 1


def test_reports_through_the_api_cli_and_csv(api_as, admin, rep):
    deal_for(rep, amount=1000, opened=timezone.now())
    api = api_as(admin)
    assert api.get("/analytics/kpis").json()["opportunities"] == 1
    csv_text = api.get("/analytics/pipeline.csv").content.decode()
    assert csv_text.splitlines()[0].startswith("stage,probability")
    assert api.get("/analytics/nonsense").status_code == 404
    out = StringIO()
    call_command("report", "pipeline", "--json", stdout=out)
    assert json.loads(out.getvalue())[0]["stage"] == "Prospecting"


def test_the_dashboard_renders(admin, rep):
    deal_for(rep, amount=1000, opened=timezone.now())
    client = Client()
    client.force_login(admin)
    page = client.get("/analytics/").content.decode()
    assert 'data-chart="funnel"' in page and "Velocity and bottlenecks" in page
    assert "Time in each lifecycle stage" in page and "No review yet" in page
    assert "Forecast backtest" in page and "Open deals" in page


def test_marketing_does_not_see_the_money_backtest(marketer):
    client = Client()
    client.force_login(marketer)
    page = client.get("/analytics/").content.decode()
    assert "Velocity and bottlenecks" in page and "Forecast backtest" not in page


def at(month, day, hour=12):
    return timezone.make_aware(datetime(2026, month, day, hour))


@pytest.mark.parametrize("from_snapshots", [False, True], ids=["from the history", "from the snapshots"])
def test_the_backtest_sets_each_past_forecast_beside_what_closed(admin, rep, from_snapshots):
    won = deal_for(rep, amount=1000, opened=at(1, 10))
    move_opportunity(won, stage=stage("Proposal"), by=rep, at=at(2, 10))
    close_opportunity(won, won=True, by=rep, at=at(3, 10))
    lost = deal_for(rep, amount=3000, opened=at(1, 15))
    close_opportunity(lost, won=False, by=rep, lost_reason="Price", at=at(2, 20))
    deal_for(rep, amount=2000, opened=at(2, 5))  # still open in Prospecting
    if from_snapshots:
        assert take_forecast_snapshots() == 6

    backtest = selectors.forecast_backtest(Scope(user=admin), default_pipeline(), months=3)
    rows = {row["as_of"]: row for row in backtest["as_of"]}
    assert list(rows) == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert rows["2026-01-01"]["open_deals"] == 0
    february = rows["2026-02-01"]  # both deals in Prospecting (10 %); nothing had closed yet to learn from
    assert (february["open_deals"], february["pipeline_value"]) == (2, 4000.0)
    assert february["weighted_by_stage"] == february["weighted_by_history"] == 400.0
    assert (february["won_since"], february["still_open"]) == (1000.0, 0.0)
    march = rows["2026-03-01"]  # the winner in Proposal (50 %), the new deal in Prospecting, which lost its only deal
    assert march["weighted_by_stage"] == 700.0 and march["weighted_by_history"] == 500.0
    assert (march["won_since"], march["still_open"]) == (1000.0, 2000.0)
    assert february["settled"] and not march["settled"]  # two thirds of March's pipeline is still open
    assert backtest["mean_abs_error_pct"] == {"by_stage": 60.0, "by_history": 60.0}  # February alone: 400 vs 1000


def test_the_backtest_reads_the_months_stored(admin, rep):
    deal = deal_for(rep, amount=1000, opened=at(1, 10))
    deal_for(rep, amount=1000, opened=at(2, 5))
    take_forecast_snapshots()
    ForecastSnapshotDeal.objects.filter(opportunity=deal).update(stage=stage("Proposal"))  # as if it said so
    february = selectors.forecast_backtest(Scope(user=admin), default_pipeline(), months=1)["as_of"][0]
    assert (february["as_of"], february["weighted_by_stage"]) == ("2026-02-01", 500.0)  # 50 %, not 10 %


def test_stored_snapshots_give_the_backtest_the_figures_of_the_history(admin, manager, rep, teammate, other_rep):
    """Deals of two teams and several sources opening, moving, closing and re-opening over half a year, with moves
    right at a month's first moment: each view of the backtest reads the same from the snapshots as from the
    history, also after a move recorded late that reaches back into the stored months."""
    won = deal_for(rep, amount=1000, opened=at(1, 10))
    move_opportunity(won, stage=stage("Proposal"), by=rep, at=at(2, 10))
    close_opportunity(won, won=True, by=rep, at=at(3, 10))
    lost = deal_for(teammate, amount=3000, opened=at(1, 15), source="referral_partner")
    close_opportunity(lost, won=False, by=teammate, lost_reason="Price", at=at(2, 20))
    reopened = deal_for(other_rep, amount=5000, opened=at(2, 1, hour=0), source="event_webinar")
    close_opportunity(reopened, won=False, by=other_rep, lost_reason="Price", at=at(3, 1, hour=0))
    move_opportunity(reopened, stage=stage("Negotiation"), by=other_rep, at=at(4, 3))
    close_opportunity(reopened, won=True, by=other_rep, at=at(5, 20))
    waiting = deal_for(rep, amount=2000, opened=at(3, 5), source="referral_partner")
    move_opportunity(waiting, stage=stage("Qualification"), by=rep, at=at(6, 1, hour=0))
    scopes = [
        Scope(user=admin),
        Scope(user=manager),
        Scope(user=rep),
        Scope(user=other_rep),
        Scope(user=admin, source="referral_partner"),
        Scope(user=admin, owner_id=rep.pk),
        Scope(user=admin, team_id=other_rep.team_id),
        Scope(user=admin, since=at(1, 12).date(), until=at(2, 28).date()),
    ]

    def backtests():
        return [selectors.forecast_backtest(scope, default_pipeline(), months=months) for scope in scopes
                for months in (6, 9)]  # fmt: skip

    from_history = backtests()
    assert take_forecast_snapshots() == 6
    assert backtests() == from_history
    # January: none yet; February: three (one opened at its first moment); March: one (one closed at its first
    # moment); April: one; May: two (the re-opened one, and the one waiting); June: one (moved at its first moment)
    assert [row["open_deals"] for row in from_history[0]["as_of"]] == [0, 3, 1, 1, 2, 1]
    assert from_history[0]["as_of"][4]["weighted_by_stage"] == 3700.0  # May: 70 % of 5,000 and 10 % of 2,000
    move_opportunity(waiting, stage=stage("Proposal"), by=rep, at=at(4, 20))  # recorded late
    from_snapshots = backtests()
    assert from_snapshots[0]["as_of"][4]["weighted_by_stage"] == 4500.0  # ... and 50 % of 2,000
    ForecastSnapshot.objects.all().delete()
    assert backtests() == from_snapshots


def test_the_backtest_of_an_empty_pipeline_is_empty(admin):
    backtest = selectors.forecast_backtest(Scope(user=admin), default_pipeline())
    assert backtest == {"as_of": [], "mean_abs_error_pct": {"by_stage": None, "by_history": None}}


def test_time_in_stage_median_is_the_upper_middle_value_on_every_database(admin):
    from leadflow.leads.services import record_lifecycle_change

    start = timezone.now() - 30 * DAY
    for days in (1, 2, 3, 4):
        lead = LeadFactory(created_at=start)
        record_lifecycle_change(lead, to="disqualified", by=None, reason="Not a fit", at=start + days * DAY)
    spent = {row["stage"]: row for row in selectors.lifecycle_times(Scope(user=admin))}["lead"]
    assert (spent["avg_days"], spent["median_days"], spent["spells"]) == (2.5, 3.0, 4)
