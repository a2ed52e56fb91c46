"""The scoring page: marketing adds rules (with a preview first), sets the threshold, queues a rescore."""

import pytest
from django.test import Client

from leadflow.jobs.worker import work
from leadflow.scoring.models import RescoreJob, ScoringRule
from leadflow.scoring.services import rescore_leads

from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db
FIT = {"name": "Senior buyer", "field": "seniority", "matcher": "any_of", "value": "vp, c_suite", "points": "70",
       "in_icp": "on"}  # fmt: skip


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_marketing_previews_then_adds_a_fit_rule(marketer, rep):
    LeadFactory(contact=ContactFactory(seniority="vp"), owner=rep)
    LeadFactory(contact=ContactFactory(seniority="manager"), owner=rep)
    client = client_for(marketer)
    preview = client.post("/scoring/rules/fit/", {**FIT, "action": "preview"})
    assert "<strong>1</strong> of 2 leads" in preview.content.decode() and not ScoringRule.objects.exists()
    assert client.post("/scoring/rules/fit/", {**FIT, "action": "add"}).status_code == 302
    rule = ScoringRule.objects.get()
    assert (rule.value, rule.points, rule.in_icp) == (["vp", "c_suite"], 70, True)
    assert "Seniority is any of vp, c_suite" in client.get("/scoring/").content.decode()


def test_a_rule_the_service_refuses_comes_back_with_the_reason(marketer):
    response = client_for(marketer).post("/scoring/rules/fit/", {**FIT, "matcher": "at_least", "action": "add"})
    assert response.status_code == 422 and "Seniority takes one of" in response.content.decode()


def test_an_engagement_rule_the_threshold_and_a_rescore(marketer):
    client = client_for(marketer)
    client.post("/scoring/rules/engagement/", {"name": "Pricing", "event_type": "pricing_page_view", "points": "10",
                                               "half_life_days": "14", "cap": "30", "action": "add"})  # fmt: skip
    assert ScoringRule.objects.get().half_life_days == 14
    client.post("/scoring/threshold/", {"mql_threshold": "40"})
    client.post("/scoring/rescore/")
    assert RescoreJob.objects.get().status == "queued"
    assert "Rescoring queued" in client.get("/scoring/").content.decode()


def test_the_page_says_when_scores_follow_older_rules(marketer, rep):
    lead = LeadFactory(contact=ContactFactory(seniority="vp"), owner=rep)
    client = client_for(marketer)
    client.post("/scoring/rules/fit/", {**FIT, "action": "add"})
    rescore_leads([lead.pk])  # a score exists, but not every lead was scored since the rules changed
    assert "stored scores still follow the old rules" in client.get("/scoring/").content.decode()
    client.post("/scoring/rescore/")
    work(once=True)
    assert "stored scores still follow the old rules" not in client.get("/scoring/").content.decode()


def test_sales_has_no_scoring_page(rep):
    assert client_for(rep).get("/scoring/").status_code == 404
