"""The weekly pipeline review: snapshots and what changed between two of them."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from leadflow.analytics import selectors
from leadflow.analytics.models import PipelineSnapshot
from leadflow.analytics.selectors import Scope
from leadflow.analytics.services import take_snapshot, week_of
from leadflow.jobs.worker import work
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import close_opportunity, convert_lead, move_opportunity, update_opportunity

from ..factories import LeadFactory

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 11, 2)


def deal(rep, amount, name="Co"):
    opportunity, _ = convert_lead(LeadFactory(owner=rep, team=rep.team, company_name=name), by=rep, amount=amount)
    update_opportunity(opportunity, by=rep, expected_close_date=MONDAY + timedelta(days=30))
    return opportunity


def categories(scope, **kwargs):
    review = selectors.pipeline_review(scope, default_pipeline(), **kwargs)
    return review, {row["category"]: row for row in review["categories"]}


def test_a_snapshot_is_taken_once_a_week(rep):
    deal(rep, 1000)
    first, taken = take_snapshot(default_pipeline(), on=MONDAY + timedelta(days=3))
    again, taken_again = take_snapshot(default_pipeline(), on=MONDAY)
    assert taken and not taken_again and first == again
    assert first.week_of == MONDAY == week_of(MONDAY + timedelta(days=6))
    assert first.deals.count() == 1


def test_the_review_names_new_advanced_slipped_won_and_lost(admin, rep):
    stays, advances, slips, wins, loses = (deal(rep, amount) for amount in (100, 200, 300, 400, 500))
    take_snapshot(default_pipeline(), on=MONDAY)
    stage = default_pipeline().stages.get
    move_opportunity(advances, stage=stage(name="Proposal"), by=rep)
    update_opportunity(slips, by=rep, expected_close_date=MONDAY + timedelta(days=60))
    close_opportunity(wins, won=True, by=rep)
    close_opportunity(loses, won=False, by=rep, lost_reason="Price")
    deal(rep, 600, name="Newco")
    take_snapshot(default_pipeline(), on=MONDAY + timedelta(days=7))

    review, rows = categories(Scope(user=admin))
    assert (review["earlier"], review["later"]) == ("2026-11-02", "2026-11-09")
    counts = {name: (row["deals"], row["value"]) for name, row in rows.items()}
    assert counts == {
        "new": (1, 600.0),
        "advanced": (1, 200.0),
        "slipped": (1, 300.0),
        "won": (1, 400.0),
        "lost": (1, 500.0),
    }
    assert rows["slipped"]["examples"][0]["expected_close_before"] == "2026-12-02"
    assert stays.pk not in {example["id"] for row in rows.values() for example in row["examples"]}


def test_the_review_without_two_snapshots_says_so(admin):
    review, rows = categories(Scope(user=admin))
    assert rows == {} and "two weekly snapshots" in review["message"]


def test_a_rep_reviews_only_their_own_deals(rep, other_rep):
    take_snapshot(default_pipeline(), on=MONDAY)
    deal(rep, 100)
    take_snapshot(default_pipeline(), on=MONDAY + timedelta(days=7))
    assert categories(Scope(user=rep))[1]["new"]["deals"] == 1
    assert categories(Scope(user=other_rep))[1]["new"]["deals"] == 0


def test_the_worker_and_the_cli_take_the_snapshot(rep):
    deal(rep, 100)
    work(once=True)  # the worker's first round of chores takes the week's snapshot
    work(once=True)
    assert PipelineSnapshot.objects.count() == 1
    out = StringIO()
    call_command("snapshot", "--on", "2026-01-07", stdout=out)
    assert "week of 2026-01-05: 1 deals" in out.getvalue()
    out = StringIO()
    call_command("report", "pipeline-review", "--csv", stdout=out)
    assert out.getvalue().splitlines()[0] == "category,deals,value"
