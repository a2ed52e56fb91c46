"""Capture, transitions, assignment, merge: the rules of the leads service."""

from datetime import timedelta

import pytest

from leadflow.accounts.models import Contact
from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.leads.models import Lead, StageChange
from leadflow.leads.services import (
    create_lead,
    merge_leads,
    record_lifecycle_change,
    refresh_lead_history,
    transition_lead,
    update_lead,
)
from leadflow.pipeline.models import Activity
from leadflow.pipeline.services import close_opportunity, convert_lead, log_activity

from ..factories import AccountFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_capturing_a_lead_records_its_first_stage(rep):
    lead = create_lead(by=rep, email="ana@northwind.example", first_name="Ana")
    assert lead.lifecycle_stage == "lead"
    assert list(lead.stage_changes.values_list("from_stage", "to_stage", "reason")) == [("", "lead", "Captured")]


def test_a_new_leads_history_is_written_as_a_refresh_would_leave_it(rep):
    lead = create_lead(by=rep, email="ana@northwind.example")
    written = list(StageChange.objects.values_list("id", "left_at", "days_in_stage"))
    assert lead.furthest_stage == "lead" and written == [(written[0][0], None, None)]
    refresh_lead_history([lead.pk])
    lead.refresh_from_db()
    assert lead.furthest_stage == "lead"
    assert list(StageChange.objects.values_list("id", "left_at", "days_in_stage")) == written


def test_each_steps_history_is_written_as_a_refresh_would_leave_it(rep):
    lead = create_lead(by=rep, email="ana@northwind.example")
    start = lead.created_at
    record_lifecycle_change(lead, to="prospect", by=None, at=start + timedelta(days=2))
    record_lifecycle_change(lead, to="disqualified", by=None, reason="No budget", at=start + timedelta(days=5))
    record_lifecycle_change(lead, to="recycled", by=None, reason="Back-dated", at=start + timedelta(days=3))
    record_lifecycle_change(lead, to="lead", by=None, reason="Re-engaged", at=start + timedelta(days=9, hours=6))
    written = list(StageChange.objects.order_by("id").values_list("id", "left_at", "days_in_stage"))
    kept = Lead.objects.get(pk=lead.pk).furthest_stage
    assert lead.furthest_stage == kept == "prospect"
    refresh_lead_history([lead.pk])
    refreshed = list(StageChange.objects.order_by("id").values_list("id", "left_at", "days_in_stage"))
    assert [(pk, left) for pk, left, _ in written] == [(pk, left) for pk, left, _ in refreshed]
    assert [days for *_, days in written] == pytest.approx([days for *_, days in refreshed])
    assert Lead.objects.get(pk=lead.pk).furthest_stage == kept


def test_capturing_a_new_person_writes_one_contact_one_lead_and_one_step_in_a_few_queries(
    rep, django_assert_max_num_queries
):
    # Account and contact looked up; contact, lead and step written; the transaction's savepoint, and one around
    # each unique row's insert (contact, lead) so a request that loses a race answers 409, not an IntegrityError.
    with django_assert_max_num_queries(11):
        lead = create_lead(by=rep, email="ana@northwind.example", first_name="Ana")
    assert Contact.objects.get().pk == lead.contact_id
    assert Lead.objects.get().pk == lead.pk
    assert StageChange.objects.get().lead_id == lead.pk


def test_a_reps_new_lead_is_theirs_and_in_their_team(rep):
    lead = create_lead(by=rep, email="ana@northwind.example")
    assert (lead.owner, lead.team) == (rep, rep.team)


def test_a_marketers_new_lead_waits_unassigned(marketer, east):
    lead = create_lead(by=marketer, email="ana@northwind.example", team=east)
    assert lead.owner is None and lead.team == east


def test_a_lead_for_a_known_email_reuses_the_contact_whatever_the_case(rep):
    first = create_lead(by=rep, email="ana@northwind.example", first_name="Ana")
    transition_lead(first, to="disqualified", by=rep, reason="Student")
    second = create_lead(by=rep, email="ANA@Northwind.Example")
    assert second.contact_id == first.contact_id
    assert Contact.objects.count() == 1


def test_a_contact_stored_with_capitals_is_found_by_its_normalised_email(rep):
    contact = Contact.objects.create(email="Ana@Northwind.example", first_name="Ana")  # as older rows may be
    lead = create_lead(by=rep, email="ana@northwind.example")
    assert lead.contact_id == contact.pk and Contact.objects.count() == 1


def test_a_second_open_lead_for_the_same_contact_is_refused_naming_the_first(rep):
    first = create_lead(by=rep, email="ana@northwind.example")
    with pytest.raises(Conflict) as refused:
        create_lead(by=rep, email="Ana@northwind.example")
    assert str(first.pk) in refused.value.detail
    assert refused.value.extra == {"existing_lead_id": first.pk}
    assert Lead.objects.count() == 1


def test_a_bad_email_is_refused_and_nothing_is_written(rep):
    with pytest.raises(InvalidInput) as refused:
        create_lead(by=rep, email="not-an-email", first_name="X")
    assert "email" in refused.value.errors
    assert Lead.objects.count() == 0 and Contact.objects.count() == 0


def test_a_lead_joins_the_account_of_its_work_email_domain(rep):
    account = AccountFactory(domain="northwind.example")
    lead = create_lead(by=rep, email="ana@northwind.example")
    assert lead.contact.account == account


def test_moving_a_lead_forward_records_who_when_and_why(rep):
    lead = LeadFactory(owner=rep, team=rep.team)
    transition_lead(lead, to="prospect", by=rep, reason="Asked for pricing")
    change = lead.stage_changes.last()
    assert (change.from_stage, change.to_stage, change.by, change.reason) == (
        "lead",
        "prospect",
        rep,
        "Asked for pricing",
    )
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "prospect"


@pytest.mark.parametrize("target", ["disqualified", "recycled"])
def test_side_exits_require_a_reason(rep, target):
    lead = LeadFactory(owner=rep, lifecycle_stage="prospect")
    with pytest.raises(InvalidInput) as refused:
        transition_lead(lead, to=target, by=rep, reason="  ")
    assert "reason" in refused.value.errors
    assert lead.stage_changes.count() == 1


def test_an_illegal_step_is_a_conflict_and_changes_nothing(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(Conflict):
        transition_lead(lead, to="recycled", by=rep, reason="Not now")
    lead.refresh_from_db()
    assert lead.lifecycle_stage == "lead" and lead.stage_changes.count() == 1


@pytest.mark.parametrize("target", ["opportunity", "customer"])
def test_deal_stages_are_not_reached_by_hand(rep, target):
    lead = LeadFactory(owner=rep, lifecycle_stage="prospect")
    with pytest.raises(Conflict) as refused:
        transition_lead(lead, to=target, by=rep)
    assert "to" in refused.value.errors


def test_an_unknown_stage_is_invalid_input(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(InvalidInput) as refused:
        transition_lead(lead, to="hot", by=rep)
    assert "to" in refused.value.errors


def test_a_recycled_lead_goes_back_to_lead(rep):
    lead = LeadFactory(owner=rep, lifecycle_stage="prospect")
    transition_lead(lead, to="recycled", by=rep, reason="Budget next year")
    transition_lead(lead, to="lead", by=rep)
    assert [c.to_stage for c in lead.stage_changes.all()] == ["lead", "recycled", "lead"]


def test_recycling_a_disqualified_lead_is_refused_while_the_contact_has_another_open_lead(rep):
    old = LeadFactory(owner=rep, lifecycle_stage="disqualified")
    LeadFactory(owner=rep, contact=old.contact)
    with pytest.raises(Conflict):
        transition_lead(old, to="recycled", by=rep, reason="Came back")


def test_marketing_cannot_change_a_lead_that_is_with_sales(marketer):
    lead = LeadFactory(lifecycle_stage="opportunity")
    with pytest.raises(NotAllowed):
        transition_lead(lead, to="disqualified", by=marketer, reason="Spam")
    with pytest.raises(NotAllowed):
        update_lead(lead, by=marketer, need="Faster invoicing")


def test_the_lifecycle_stage_is_not_edited_directly(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(InvalidInput) as refused:
        update_lead(lead, by=rep, lifecycle_stage="customer")
    assert "lifecycle_stage" in refused.value.errors


def test_a_rep_may_claim_a_lead_but_not_give_it_to_someone_else(rep, teammate):
    lead = LeadFactory(team=rep.team)
    update_lead(lead, by=rep, owner=rep)
    assert lead.owner == rep
    with pytest.raises(NotAllowed) as refused:
        update_lead(lead, by=rep, owner=teammate)
    assert "owner" in refused.value.errors


def test_a_manager_assigns_within_their_team_only(manager, teammate, other_rep):
    lead = LeadFactory(team=manager.team)
    update_lead(lead, by=manager, owner=teammate)
    assert lead.owner == teammate
    with pytest.raises(NotAllowed):
        update_lead(lead, by=manager, owner=other_rep)


def test_an_inactive_user_cannot_be_given_leads(admin, rep):
    rep.is_active = False
    rep.save()
    with pytest.raises(InvalidInput) as refused:
        update_lead(LeadFactory(), by=admin, owner=rep)
    assert "owner" in refused.value.errors


def test_budget_cannot_be_negative(rep):
    with pytest.raises(InvalidInput) as refused:
        update_lead(LeadFactory(owner=rep), by=rep, budget_amount=-5)
    assert "budget_amount" in refused.value.errors


def test_merging_moves_activities_fills_blanks_and_disqualifies_the_duplicate(rep):
    survivor = LeadFactory(owner=rep, need="")
    duplicate = LeadFactory(owner=rep, need="Invoices take weeks", authority="decision_maker")
    log_activity(by=rep, kind="call", subject="Intro call", lead=duplicate, is_done=True)
    merge_leads(survivor=survivor, duplicate=duplicate, by=rep)
    survivor.refresh_from_db()
    duplicate.refresh_from_db()
    assert (survivor.need, survivor.authority) == ("Invoices take weeks", "decision_maker")
    assert Activity.objects.get().lead == survivor
    assert duplicate.lifecycle_stage == "disqualified" and duplicate.merged_into == survivor
    assert duplicate.stage_changes.last().reason == f"Merged into lead {survivor.pk}"


def test_merging_carries_the_duplicates_progress_to_the_survivor(rep):
    survivor = LeadFactory(owner=rep)
    duplicate = LeadFactory(owner=rep)
    transition_lead(duplicate, to="prospect", by=rep)
    merge_leads(survivor=survivor, duplicate=duplicate, by=rep)
    survivor.refresh_from_db()
    assert survivor.lifecycle_stage == "prospect"
    assert StageChange.objects.filter(lead=survivor, to_stage="prospect").exists()


def test_a_lead_cannot_be_merged_into_itself_or_twice(rep):
    survivor, duplicate = LeadFactory(owner=rep), LeadFactory(owner=rep)
    with pytest.raises(InvalidInput):
        merge_leads(survivor=survivor, duplicate=survivor, by=rep)
    merge_leads(survivor=survivor, duplicate=duplicate, by=rep)
    with pytest.raises(Conflict):
        merge_leads(survivor=survivor, duplicate=duplicate, by=rep)


def test_after_a_lost_deal_the_contact_may_come_back_as_a_new_lead(rep):
    lead = create_lead(by=rep, email="ana@northwind.example", company_name="Northwind")
    deal, _ = convert_lead(lead, by=rep)
    with pytest.raises(Conflict):
        create_lead(by=rep, email="ana@northwind.example")  # the deal is still open
    close_opportunity(deal, won=False, by=rep, lost_reason="Price")
    again = create_lead(by=rep, email="ana@northwind.example")
    assert again.contact_id == lead.contact_id and again.pk != lead.pk
