"""Forecast snapshots: the deals open as each month began, stored by the worker and kept in step with the history."""

from datetime import datetime

import pytest
from django.utils import timezone

from leadflow.jobs.worker import work
from leadflow.pipeline.models import ForecastSnapshot, Opportunity
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import (
    close_opportunity,
    convert_lead,
    move_opportunity,
    refresh_deal_history,
    take_forecast_snapshots,
)

from ..factories import LeadFactory

pytestmark = pytest.mark.django_db


def at(year, month, day):
    return timezone.make_aware(datetime(year, month, day))


def stage(name):
    return default_pipeline().stages.get(name=name)


def deal_opened(rep, opened, amount=1000):
    deal, _ = convert_lead(LeadFactory(owner=rep, team=rep.team, company_name="Co"), by=rep, amount=amount)
    Opportunity.objects.filter(pk=deal.pk).update(created_at=opened)
    deal.stage_changes.update(at=opened)
    refresh_deal_history([deal.pk])
    return deal


def stored():
    """Each stored month start with its deals and the stage each was in."""
    return {
        snapshot.as_of.date().isoformat(): {(row.opportunity_id, row.stage.name) for row in snapshot.deals.all()}
        for snapshot in ForecastSnapshot.objects.order_by("as_of")
    }


def test_the_worker_stores_the_six_month_starts_up_to_the_newest_move_once(rep):
    early = deal_opened(rep, at(2026, 1, 10))
    move_opportunity(early, stage=stage("Proposal"), by=rep, at=at(2026, 2, 10))
    late = deal_opened(rep, at(2026, 3, 5))
    work(once=True)  # the worker's round of chores
    assert stored() == {
        "2025-10-01": set(),
        "2025-11-01": set(),
        "2025-12-01": set(),
        "2026-01-01": set(),
        "2026-02-01": {(early.pk, "Prospecting")},
        "2026-03-01": {(early.pk, "Proposal")},
    }
    close_opportunity(late, won=True, by=rep, at=at(2026, 3, 20))  # same month: nothing new to store
    assert take_forecast_snapshots() == 0


def test_a_later_month_is_stored_with_those_between(rep):
    deal = deal_opened(rep, at(2026, 1, 10))
    take_forecast_snapshots()
    close_opportunity(deal, won=False, by=rep, lost_reason="Price", at=at(2026, 4, 2))
    assert take_forecast_snapshots() == 3
    months = list(stored())
    assert (months[0], months[-1], len(months)) == ("2025-08-01", "2026-04-01", 9)
    assert stored()["2026-04-01"] == {(deal.pk, "Prospecting")}  # still open as April began


def test_a_back_dated_move_reaches_into_the_months_stored(rep):
    deal = deal_opened(rep, at(2026, 1, 10))
    newer = deal_opened(rep, at(2026, 3, 1))  # opened as March began: open then
    take_forecast_snapshots()
    assert stored()["2026-03-01"] == {(deal.pk, "Prospecting"), (newer.pk, "Prospecting")}
    move_opportunity(deal, stage=stage("Proposal"), by=rep, at=at(2026, 2, 15))  # recorded late
    assert stored()["2026-03-01"] == {(deal.pk, "Proposal"), (newer.pk, "Prospecting")}
    assert stored()["2026-02-01"] == {(deal.pk, "Prospecting")}


def test_a_deleted_deal_leaves_the_snapshots(rep):
    deal = deal_opened(rep, at(2026, 1, 10))
    move_opportunity(deal, stage=stage("Proposal"), by=rep, at=at(2026, 2, 10))
    take_forecast_snapshots()
    deal.delete()
    assert stored()["2026-02-01"] == set()
