"""Scoring through the API: rules, settings, preview, the rescore job, a lead's score and its why."""

import pytest

from leadflow.jobs.worker import work
from leadflow.scoring.models import LeadScore, ScoringRule

from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db
SENIOR = {"name": "Senior buyer", "kind": "fit", "field": "seniority", "matcher": "any_of", "value": ["vp"],
          "points": 40, "in_icp": True}  # fmt: skip


def test_marketing_writes_rules_and_the_worker_rescores(api_as, marketer, rep):
    lead = LeadFactory(contact=ContactFactory(seniority="vp"), owner=rep, team=rep.team)
    api = api_as(marketer)
    created = api.post("/scoring/rules", SENIOR)
    assert created.status_code == 201 and created.json()["value"] == ["vp"]
    assert api.put("/scoring/settings", {"mql_threshold": 35}).json() == {"mql_threshold": 35}
    job = api.post("/scoring/rescore")
    assert job.status_code == 202 and job.json()["status"] == "queued"
    work(once=True)
    assert api.get(f"/scoring/rescore/{job.json()['id']}").json()["message"] == "Scored 1 leads."
    score = api_as(rep).get(f"/leads/{lead.pk}/score").json()
    assert (score["total"], score["icp_match"]) == (40, 100)
    assert score["breakdown"] == [{"rule": created.json()["id"], "name": "Senior buyer", "kind": "fit", "points": 40}]
    assert score["mql_at"] is not None  # 40 ≥ 35: qualified


def test_a_bad_rule_is_a_422_naming_the_field(api_as, marketer):
    response = api_as(marketer).post("/scoring/rules", {**SENIOR, "matcher": "at_least"})
    assert response.status_code == 422 and "matcher" in response.json()["errors"]
    assert not ScoringRule.objects.exists()


def test_the_preview_counts_without_saving(api_as, marketer, rep):
    LeadFactory(contact=ContactFactory(seniority="vp"), owner=rep)
    LeadFactory(contact=ContactFactory(seniority="manager"), owner=rep)
    api = api_as(marketer)
    api.put("/scoring/settings", {"mql_threshold": 30})
    assert api.post("/scoring/preview", {"rules": [SENIOR]}).json() == {"leads": 2, "mql": 1, "threshold": 30}
    refused = api.post("/scoring/preview", {"rules": [SENIOR, {**SENIOR, "points": 0}]})
    assert refused.status_code == 422 and "rules[1].points" in refused.json()["errors"]
    assert not ScoringRule.objects.exists() and not LeadScore.objects.exists()


def test_sales_reads_scores_but_does_not_write_rules(api_as, rep, other_rep):
    assert api_as(rep).post("/scoring/rules", SENIOR).status_code == 403
    theirs = LeadFactory(owner=other_rep, team=other_rep.team)
    assert api_as(rep).get(f"/leads/{theirs.pk}/score").status_code == 404
