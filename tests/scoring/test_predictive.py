"""Predictive scoring: known outcomes, features, training with a held-out measure, the too-little-history refusal,
held-out leads never reaching the model, predictions with their factors, the CLI, the API, the pages, the worker."""

import csv
from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from leadflow.engagement.models import Event
from leadflow.jobs.worker import work
from leadflow.leads.models import Lead, LifecycleStage, StageChange
from leadflow.leads.services import merge_leads
from leadflow.pipeline.models import Activity, Opportunity
from leadflow.pipeline.selectors import default_pipeline
from leadflow.scoring.features import WINDOW_DAYS, build_features, explain, model_features
from leadflow.scoring.models import ConversionModel, LeadPrediction, LeadScore, TrainingJob
from leadflow.scoring.selectors import explain_leads, known_outcomes, serving_model
from leadflow.scoring.services import NotEnoughHistory, predict_leads, queue_weekly_training, train_model

from ..factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db
NOW = timezone.now()
CREATED = NOW - timedelta(days=150)


def leads_with_history(count, *, converted=lambda place: place % 10 != 1 if place % 2 else place % 10 == 0):
    """`count` leads created 150 days ago; odd ones viewed pricing three times in their first weeks and 4 in 5 of
    them became customers within 90 days, 4 in 5 even ones were disqualified: a pattern a model can learn."""
    account = AccountFactory(industry="Software")
    contact = ContactFactory(account=account)
    leads = Lead.objects.bulk_create(
        Lead(contact=contact, external_id=f"L{place}", created_at=CREATED, source="web_form") for place in range(count)
    )
    events, steps = [], []
    for place, lead in enumerate(leads):
        if place % 2:
            events += [Event(lead=lead, type="pricing_page_view", occurred_at=CREATED + timedelta(days=day))
                       for day in (2, 5, 9)]  # fmt: skip
        won = converted(place)
        lead.lifecycle_stage = LifecycleStage.CUSTOMER if won else LifecycleStage.DISQUALIFIED
        steps.append(StageChange(lead=lead, from_stage="lead", to_stage=lead.lifecycle_stage,
                                 at=CREATED + timedelta(days=40)))  # fmt: skip
    Event.objects.bulk_create(events)
    StageChange.objects.bulk_create(steps)
    Lead.objects.bulk_update(leads, ["lifecycle_stage"])
    return leads


def open_lead(*, pricing_views):
    lead = Lead.objects.create(
        contact=ContactFactory(), external_id=f"open-{pricing_views}", created_at=NOW - timedelta(days=10)
    )
    Event.objects.bulk_create(
        Event(lead=lead, type="pricing_page_view", occurred_at=NOW - timedelta(days=9 - day))
        for day in range(pricing_views)
    )
    return lead


def test_known_outcomes_are_decided_leads_only():
    won_late, lost_deal, still_open = leads_with_history(3, converted=lambda place: place == 0)
    StageChange.objects.filter(lead=won_late).update(at=CREATED + timedelta(days=120))  # a customer, but late
    StageChange.objects.filter(lead=still_open).delete()
    Lead.objects.filter(pk=still_open.pk).update(lifecycle_stage=LifecycleStage.PROSPECT)
    pipeline = default_pipeline()
    lost = pipeline.stages.get(is_lost=True)
    Lead.objects.filter(pk=lost_deal.pk).update(lifecycle_stage=LifecycleStage.OPPORTUNITY)
    Opportunity.objects.create(lead=lost_deal, name="Lost", pipeline=pipeline, stage=lost, closed_at=NOW)
    assert known_outcomes() == {won_late.pk: 0, lost_deal.pk: 0}


def test_features_see_the_first_thirty_days_and_never_how_a_deal_ended():
    (lead,) = leads_with_history(1)
    Event.objects.create(lead=lead, type="pricing_page_view", occurred_at=CREATED + timedelta(days=45))  # too late
    table = build_features([lead.pk], now=NOW, outcomes=[])
    row = dict(zip(table.names, table.values[0], strict=True))
    assert row["events:pricing_page_view"] == 0  # lead 0 had no early views; the day-45 one is outside the window
    pipeline = default_pipeline()
    deal = Opportunity.objects.create(lead=lead, name="Deal", pipeline=pipeline, stage=pipeline.stages.first(),
                                      amount=5000, created_at=CREATED + timedelta(days=3))  # fmt: skip
    before = build_features([lead.pk], now=NOW, outcomes=[]).values
    deal.stage, deal.closed_at = pipeline.stages.get(is_won=True), NOW
    deal.save()
    after = build_features([lead.pk], now=NOW, outcomes=[]).values
    assert np.array_equal(before, after, equal_nan=True)
    assert dict(zip(table.names, after[0], strict=True))["deals:opened"] == 1


def test_features_say_when_sales_first_and_last_worked_a_lead_in_its_window():
    (lead,) = leads_with_history(1)
    Activity.objects.bulk_create(
        Activity(lead=lead, kind=kind, subject="Worked", is_done=True, done_at=CREATED + timedelta(days=day))
        for kind, day in (("call", 2), ("call", 9), ("demo", 6), ("demo", 50))  # the day-50 demo is too late
    )
    table = build_features([lead.pk], now=NOW, outcomes=[])
    row = dict(zip(table.names, table.values[0], strict=True))
    assert (row["activities:call"], row["activities:demo"]) == (2, 1)
    assert row["days_since_activity:call"] == pytest.approx(21) and row["days_since_activity:demo"] == pytest.approx(24)
    assert row["activities:first_day"] == pytest.approx(2) and row["days_since_activity"] == pytest.approx(21)
    assert np.isnan(row["days_since_activity:meeting"])
    assert (
        explain("activities:call", row, table.vocabularies, WINDOW_DAYS) == "2 calls logged by sales, the last on day 9"
    )
    assert explain("activities", row, table.vocabularies, WINDOW_DAYS) == (
        "Sales first worked it on day 2, the last time on day 9"
    )
    older = {"activities:call": 2.0}  # a model trained before the days since the last call
    assert explain("activities:call", older, table.vocabularies, WINDOW_DAYS) == "2 calls logged by sales"


def test_too_little_history_gives_a_message_not_a_model():
    leads_with_history(120)
    with pytest.raises(NotEnoughHistory, match="120 leads have a known outcome; training needs at least 200"):
        train_model()
    assert not ConversionModel.objects.exists()


def test_a_single_kind_of_outcome_gives_a_message_not_a_model():
    leads_with_history(250, converted=lambda place: False)
    with pytest.raises(NotEnoughHistory, match=r"none converted"):
        train_model()


def test_training_keeps_a_measured_version_and_predictions_follow_the_pattern():
    leads_with_history(400)
    model = train_model(at=NOW)
    assert (model.known, model.converted) == (400, 200)
    assert model.training_size + model.holdout_size == 400 and model.holdout_size == 80
    assert model.roc_auc > 0.7 and model.brier < model.baseline_brier and model.is_good
    assert len(model.calibration) == 10 and model.importance[0][0] == "Pricing page views: how many, how recent"
    assert serving_model() == model
    keen, idle = open_lead(pricing_views=3), open_lead(pricing_views=0)
    assert predict_leads([keen.pk, idle.pk]) == 2
    stored = dict(LeadPrediction.objects.values_list("lead", "probability"))
    assert stored[keen.pk] > stored[idle.pk] + 0.2
    explained = explain_leads([keen.pk, idle.pk])
    assert explained[keen.pk]["probability"] == pytest.approx(stored[keen.pk])
    assert {"text": explained[keen.pk]["factors"][0]["text"], "effect": 1} == {
        "text": "3 pricing page views, the last on day 3",
        "effect": 1,
    }  # day 3 of the 10 it has lived, when the last view came
    assert explained[idle.pk]["factors"][0]["effect"] == -1
    assert explained[idle.pk]["factors"][0]["text"] == "No pricing page views"


def test_a_merge_predicts_the_survivor_afresh(admin):
    leads_with_history(400)
    train_model(at=NOW)
    keen, idle = open_lead(pricing_views=3), open_lead(pricing_views=0)
    predict_leads([keen.pk, idle.pk])
    before = LeadPrediction.objects.get(lead=idle).probability
    merge_leads(survivor=idle, duplicate=keen, by=admin)  # the keen lead's pricing views are the survivor's now
    assert LeadPrediction.objects.get(lead=idle).probability > before + 0.2


def test_a_model_reads_only_the_columns_it_was_trained_on():
    leads_with_history(300)
    model = train_model(at=NOW)
    older = [name for name in model.spec["names"] if not name.startswith(("days_since_activity", "activities:first"))]
    lead = open_lead(pricing_views=3)
    table = model_features([lead.pk], now=NOW, spec={**model.spec, "names": older})
    full = build_features([lead.pk], now=NOW, outcomes=model.spec["outcomes"], vocabularies=model.spec["vocabularies"])
    assert table.names == older and table.values.shape == (1, len(older))
    assert table.values[0, older.index("events:pricing_page_view")] == 3
    assert table.topics == [full.topics[full.names.index(name)] for name in older]


def test_held_out_leads_never_reach_the_model():
    leads = leads_with_history(400)
    held_out = [lead.external_id for lead in leads[:100]]
    first = train_model(exclude=held_out, at=NOW)
    # Flip every held-out lead's outcome: a model that saw them would change.
    for lead in leads[:100]:
        flipped = (
            LifecycleStage.DISQUALIFIED if lead.lifecycle_stage == LifecycleStage.CUSTOMER else LifecycleStage.CUSTOMER
        )
        Lead.objects.filter(pk=lead.pk).update(lifecycle_stage=flipped)
        StageChange.objects.filter(lead=lead).update(to_stage=flipped)
    second = train_model(exclude=held_out, at=NOW)
    assert first.known == second.known == 300
    assert first.booster == second.booster and first.calibration_map == second.calibration_map
    assert train_model(at=NOW).booster != first.booster  # … and one that may see them does


def test_cli_trains_predicts_and_exports(tmp_path):
    leads_with_history(300)
    held_out = tmp_path / "test.csv"
    held_out.write_text("lead_id,converted_within_90_days\nL0,True\nL1,False\n")
    out = StringIO()
    call_command("train", "--exclude", str(held_out), stdout=out)
    assert "trained on 238 of 298 leads with a known outcome" in out.getvalue()
    assert "Predicted 300 leads" in out.getvalue()
    export = tmp_path / "scores.csv"
    call_command("score", "--export", str(export), stdout=StringIO())
    rows = list(csv.reader(export.open()))
    assert rows[0] == ["lead_external_id", "probability", "fit", "engagement", "total"]
    assert len(rows) == 301 and rows[1][0] == "L0" and 0 < float(rows[1][1]) < 1 and rows[1][2:] == ["", "", ""]


def test_cli_says_when_history_is_too_little():
    with pytest.raises(CommandError, match="Too little history"):
        call_command("train", stdout=StringIO())


def test_worker_trains_weekly_once_there_is_history_and_records_a_refusal():
    assert queue_weekly_training() is None  # nothing decided yet
    TrainingJob.objects.create()  # asked for anyway
    work(once=True)
    job = TrainingJob.objects.get()
    assert job.status == "failed" and "Too little history" in job.message
    leads_with_history(300)
    assert queue_weekly_training() is None  # one a week: this week's has run
    assert queue_weekly_training(at=timezone.now() + timedelta(days=8)) is not None
    work(once=True)
    job = TrainingJob.objects.order_by("-pk").first()
    assert job.status == "done" and "predicted 300" in job.message
    assert LeadPrediction.objects.count() == 300


def test_api_models_training_and_a_leads_prediction(api_as, admin, rep):
    leads_with_history(300)
    sales = api_as(rep)
    assert sales.post("/scoring/train").status_code == 403
    response = api_as(admin).post("/scoring/train")
    assert response.status_code == 202
    work(once=True)
    models = api_as(admin).get("/scoring/models").json()
    assert models["total"] == 1 and models["items"][0]["roc_auc"] > 0.7
    lead = Lead.objects.order_by("pk")[1]
    Lead.objects.filter(pk=lead.pk).update(owner=rep)
    body = sales.get(f"/leads/{lead.pk}/prediction").json()
    assert 0 < body["probability"] < 1 and body["model"] == models["items"][0]["id"]
    assert body["factors"][0]["text"].startswith("3 pricing page views")


def test_pages_show_the_model_and_a_leads_chances(client, admin):
    leads_with_history(300)
    client.force_login(admin)
    empty = client.get("/scoring/model/")
    assert b"No conversion model is in use yet" in empty.content
    model = train_model(at=NOW)
    page = client.get("/scoring/model/")
    assert f"v{model.pk}".encode() in page.content and b"Calibration on held-out leads" in page.content
    lead = open_lead(pricing_views=3)
    Lead.objects.filter(pk=lead.pk).update(owner=admin)
    detail = client.get(f"/leads/{lead.pk}/")
    assert b"Likely to convert" in detail.content and b"3 pricing page views" in detail.content
    LeadScore.objects.create(lead=lead, fit=10, total=10)
    predict_leads([lead.pk])
    chance = f"{LeadPrediction.objects.get(lead=lead).probability * 100:.1f}%"
    assert chance.encode() in client.get("/").content  # My day's hottest leads show each one's chance
