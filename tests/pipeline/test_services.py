"""Conversion, stage moves, closing and re-opening: the rules of the pipeline service."""

import pytest

from leadflow.accounts.models import Account
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.leads.services import transition_lead
from leadflow.pipeline.models import Opportunity, Pipeline, Stage
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import (
    close_opportunity,
    convert_lead,
    log_activity,
    move_opportunity,
    reopen_opportunity,
)

from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def stage(name: str) -> Stage:
    return default_pipeline().stages.get(name=name)


@pytest.fixture
def prospect(rep):
    lead = LeadFactory(owner=rep, team=rep.team, company_name="Northwind")
    transition_lead(lead, to="prospect", by=rep)
    return lead


@pytest.fixture
def opportunity(prospect, rep):
    opportunity, _ = convert_lead(prospect, by=rep, amount=20000)
    return opportunity


def test_the_default_pipeline_has_the_six_default_stages():
    stages = list(default_pipeline().stages.values_list("name", "probability", "is_won", "is_lost"))
    assert stages == [
        ("Prospecting", 10, False, False),
        ("Qualification", 20, False, False),
        ("Proposal", 50, False, False),
        ("Negotiation", 70, False, False),
        ("Closed won", 100, True, False),
        ("Closed lost", 0, False, True),
    ]


def test_converting_opens_an_opportunity_and_moves_the_lead(prospect, rep):
    opportunity, created = convert_lead(prospect, by=rep, amount=20000)
    prospect.refresh_from_db()
    assert created
    assert prospect.lifecycle_stage == "opportunity"
    assert (opportunity.lead, opportunity.owner, opportunity.stage.name) == (prospect, rep, "Prospecting")
    assert opportunity.contact == prospect.contact
    assert prospect.stage_changes.last().reason == f"Converted to opportunity {opportunity.pk}"
    assert [c.to_stage.name for c in opportunity.stage_changes.all()] == ["Prospecting"]


def test_converting_twice_returns_the_same_opportunity(prospect, rep):
    first, _ = convert_lead(prospect, by=rep)
    second, created = convert_lead(prospect, by=rep)
    assert (second.pk, created) == (first.pk, False)
    assert Opportunity.objects.count() == 1
    assert prospect.stage_changes.filter(to_stage="opportunity").count() == 1


def test_converting_creates_the_missing_account(rep):
    lead = LeadFactory(owner=rep, contact=ContactFactory(account=None, email="li@fabrikam.example"))
    opportunity, _ = convert_lead(lead, by=rep)
    lead.contact.refresh_from_db()
    assert opportunity.account.domain == "fabrikam.example"
    assert lead.contact.account == opportunity.account


def test_converting_a_free_mail_lead_without_a_company_is_refused(rep):
    lead = LeadFactory(owner=rep, contact=ContactFactory(account=None, email="li@gmail.com"))
    with pytest.raises(InvalidInput) as refused:
        convert_lead(lead, by=rep)
    assert "company_name" in refused.value.errors
    assert Account.objects.count() == 0 and Opportunity.objects.count() == 0


def test_converting_straight_from_lead_skips_prospect(rep):
    lead = LeadFactory(owner=rep)
    convert_lead(lead, by=rep)
    assert [c.to_stage for c in lead.stage_changes.all()] == ["lead", "opportunity"]


def test_a_disqualified_lead_cannot_be_converted(rep):
    lead = LeadFactory(owner=rep)
    transition_lead(lead, to="disqualified", by=rep, reason="Competitor")
    with pytest.raises(Conflict):
        convert_lead(lead, by=rep)
    assert Opportunity.objects.count() == 0


def test_marketing_cannot_convert(marketer):
    with pytest.raises(NotAllowed):
        convert_lead(LeadFactory(), by=marketer)


def test_moving_records_the_step_in_the_opportunitys_history(opportunity, rep):
    move_opportunity(opportunity, stage=stage("Proposal"), by=rep, reason="Sent the quote")
    last = opportunity.stage_changes.last()
    assert (last.from_stage.name, last.to_stage.name, last.by, last.reason) == (
        "Prospecting",
        "Proposal",
        rep,
        "Sent the quote",
    )


def test_a_stage_of_another_pipeline_is_refused(opportunity, rep):
    other = Pipeline.objects.create(name="Renewals").stages.create(name="Open", order=1, probability=50)
    with pytest.raises(InvalidInput) as refused:
        move_opportunity(opportunity, stage=other, by=rep)
    assert "stage" in refused.value.errors


def test_the_probability_is_the_stages_unless_overridden(opportunity):
    assert opportunity.probability == 10
    opportunity.probability_override = 35
    assert opportunity.probability == 35


def test_closing_won_makes_the_lead_a_customer(opportunity, prospect, rep):
    close_opportunity(opportunity, won=True, by=rep, note="Champion in finance")
    opportunity.refresh_from_db()
    prospect.refresh_from_db()
    assert opportunity.stage.is_won and opportunity.closed_at is not None
    assert opportunity.review_note == "Champion in finance"
    assert prospect.lifecycle_stage == "customer"
    assert prospect.stage_changes.last().reason == f"Opportunity {opportunity.pk} closed won"


def test_closing_lost_requires_a_reason(opportunity, rep):
    with pytest.raises(InvalidInput) as refused:
        close_opportunity(opportunity, won=False, by=rep)
    assert "lost_reason" in refused.value.errors
    opportunity.refresh_from_db()
    assert not opportunity.is_closed


def test_closing_lost_with_an_unknown_reason_is_refused(opportunity, rep):
    with pytest.raises(InvalidInput) as refused:
        close_opportunity(opportunity, won=False, by=rep, lost_reason="Aliens")
    assert "lost_reason" in refused.value.errors


def test_closing_lost_keeps_the_reason_and_leaves_the_lead_an_opportunity(opportunity, prospect, rep):
    close_opportunity(opportunity, won=False, by=rep, lost_reason="price")
    opportunity.refresh_from_db()
    prospect.refresh_from_db()
    assert opportunity.lost_reason.name == "Price" and opportunity.closed_at is not None
    assert prospect.lifecycle_stage == "opportunity"


def test_dragging_into_the_lost_stage_also_needs_a_reason(opportunity, rep):
    with pytest.raises(InvalidInput):
        move_opportunity(opportunity, stage=stage("Closed lost"), by=rep)


def test_a_closed_opportunity_cannot_be_closed_again(opportunity, rep):
    close_opportunity(opportunity, won=True, by=rep)
    with pytest.raises(Conflict):
        close_opportunity(opportunity, won=False, by=rep, lost_reason="Price")


def test_reopening_is_recorded_and_clears_the_close(opportunity, rep):
    move_opportunity(opportunity, stage=stage("Negotiation"), by=rep)
    close_opportunity(opportunity, won=False, by=rep, lost_reason="Price")
    reopen_opportunity(opportunity, by=rep)
    opportunity.refresh_from_db()
    assert opportunity.stage.name == "Negotiation"
    assert opportunity.closed_at is None and opportunity.lost_reason is None
    last = opportunity.stage_changes.last()
    assert (last.from_stage.name, last.to_stage.name) == ("Closed lost", "Negotiation")
    assert last.reason.startswith("Re-opened")


def test_an_open_opportunity_cannot_be_reopened(opportunity, rep):
    with pytest.raises(Conflict):
        reopen_opportunity(opportunity, by=rep)


def test_a_done_activity_becomes_the_leads_last_activity(prospect, rep):
    activity = log_activity(by=rep, kind="call", subject="Discovery", lead=prospect, is_done=True, outcome="connected")
    prospect.refresh_from_db()
    assert prospect.last_activity_at == activity.done_at


def test_an_open_task_is_not_activity_yet(prospect, rep):
    log_activity(by=rep, kind="task", subject="Send deck", lead=prospect)
    prospect.refresh_from_db()
    assert prospect.last_activity_at is None


def test_an_activity_needs_a_lead_or_an_opportunity(rep):
    with pytest.raises(InvalidInput) as refused:
        log_activity(by=rep, kind="call", subject="Who?")
    assert "lead_id" in refused.value.errors


def test_an_activity_on_an_opportunity_belongs_to_its_lead_too(opportunity, prospect, rep):
    activity = log_activity(by=rep, kind="demo", subject="Demo", opportunity=opportunity, is_done=True)
    assert activity.lead == prospect
