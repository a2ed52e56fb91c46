"""Every page renders for the roles that may see it, and hides what they may not."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from leadflow.leads.services import create_lead, transition_lead
from leadflow.pipeline.models import Activity, LostReason
from leadflow.pipeline.selectors import default_pipeline
from leadflow.pipeline.services import close_opportunity, convert_lead, log_activity, move_opportunity

from ..clients import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(rep):
    lead = create_lead(
        by=rep, email="ana@northwind.example", first_name="Ana", last_name="Lima", company_name="Northwind"
    )
    transition_lead(lead, to="prospect", by=rep, reason="Asked for pricing")
    opportunity, _ = convert_lead(lead, by=rep, amount=42000)
    move_opportunity(opportunity, stage=default_pipeline().stages.get(name="Proposal"), by=rep)
    log_activity(by=rep, kind="call", subject="Discovery call", lead=lead, is_done=True, outcome="connected")
    return opportunity


def test_signed_out_visitors_are_sent_to_the_login_page(client):
    response = client.get("/leads/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_logging_in_lands_on_my_day(rep):
    response = Client().post("/login/", {"username": rep.username, "password": "correct-horse-battery"}, follow=True)
    assert response.status_code == 200
    assert b"Quick log" in response.content


@pytest.mark.parametrize(
    "path", ["/", "/leads/", "/leads/new/", "/pipeline/", "/accounts/", "/contacts/", "/search/?q=ana"]
)
def test_the_main_pages_render(rep, deal, path):
    assert signed_in(rep).get(path).status_code == 200


def test_the_lead_page_shows_the_lifecycle_bar_timeline_and_next_steps(rep, deal):
    page = signed_in(rep).get(f"/leads/{deal.lead_id}/").content.decode()
    assert "Ana Lima" in page
    assert "Lead → Prospect" in page and "Asked for pricing" in page
    assert "Call: Discovery call" in page
    assert ">Disqualify<" in page  # the one manual step left from an opportunity
    assert "Move to prospect" not in page  # illegal steps are not offered


def test_the_opportunity_page_shows_stage_history_with_days(rep, deal):
    page = signed_in(rep).get(f"/opportunities/{deal.pk}/").content.decode()
    assert "Stage history" in page and "Prospecting" in page and "Proposal" in page
    assert "42,000 USD" in page


def test_the_board_shows_count_and_value_per_stage(rep, deal):
    page = signed_in(rep).get("/pipeline/").content.decode()
    assert f'data-opportunity-id="{deal.pk}"' in page
    assert "42k total" in page


def test_a_rep_cannot_open_another_reps_lead_or_deal(other_rep, deal):
    client = signed_in(other_rep)
    assert client.get(f"/leads/{deal.lead_id}/").status_code == 404
    assert client.get(f"/opportunities/{deal.pk}/").status_code == 404
    assert b"Ana Lima" not in client.get("/leads/").content


def test_marketing_sees_the_deal_without_its_amount(marketer, deal):
    page = signed_in(marketer).get(f"/opportunities/{deal.pk}/").content.decode()
    assert "42,000" not in page and "hidden" in page
    assert "42k" not in signed_in(marketer).get("/pipeline/").content.decode()


def test_settings_exist_only_for_admins(admin, manager):
    assert signed_in(admin).get("/settings/").status_code == 200
    assert signed_in(manager).get("/settings/").status_code == 404


def test_a_bad_email_is_shown_on_the_new_lead_form(rep):
    response = signed_in(rep).post("/leads/new/", {"email": "nope", "first_name": "X", "source": "other"})
    assert response.status_code == 422
    assert "Enter a valid email address." in response.content.decode()


def test_the_bant_panel_saves_in_place(rep, deal):
    client = signed_in(rep)
    response = client.post(
        f"/leads/{deal.lead_id}/bant/",
        {"budget_amount": "50000", "budget_confirmed": "on", "authority": "decision_maker", "need": "Slow AP"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "confirmed" in response.content.decode()
    deal.lead.refresh_from_db()
    assert (deal.lead.budget_amount, deal.lead.authority) == (50000, "decision_maker")


def test_the_board_refuses_a_move_with_the_reason(rep, deal):
    lost = default_pipeline().stages.get(name="Closed lost")
    response = signed_in(rep).post(f"/opportunities/{deal.pk}/close/", {"won": "0"}, HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 422
    assert "lost reason" in response.content.decode().lower()
    deal.refresh_from_db()
    assert deal.stage != lost


def test_bulk_transition_moves_each_lead_it_may(rep):
    leads = [create_lead(by=rep, email=f"p{i}@acme.example") for i in range(3)]
    response = signed_in(rep).post(
        "/leads/bulk/", {"lead_ids": [lead.pk for lead in leads], "action": "transition", "to": "prospect"}, follow=True
    )
    assert "Moved 3 leads to prospect." in response.content.decode()
    assert {lead.stage_changes.last().to_stage for lead in leads} == {"prospect"}


def test_my_day_lists_overdue_tasks_and_marks_them_done(rep, deal):
    task = log_activity(
        by=rep, kind="task", subject="Send the proposal", lead=deal.lead, due_at=timezone.now() - timedelta(days=2)
    )
    client = signed_in(rep)
    assert "Send the proposal" in client.get("/").content.decode()
    client.post(f"/tasks/{task.pk}/done/")
    assert Activity.objects.get(pk=task.pk).is_done


def test_closing_from_the_opportunity_page_records_the_reason(rep, deal):
    reason = LostReason.objects.get(name="Price")
    signed_in(rep).post(f"/opportunities/{deal.pk}/close/", {"won": "0", "lost_reason": reason.pk, "note": "Too dear"})
    deal.refresh_from_db()
    assert deal.stage.is_lost and deal.lost_reason == reason and deal.review_note == "Too dear"


def test_closed_won_deal_shows_reopen(rep, deal):
    close_opportunity(deal, won=True, by=rep)
    assert "Re-open" in signed_in(rep).get(f"/opportunities/{deal.pk}/").content.decode()
