"""The public submission endpoint: the guards, validation, the lead it makes, consent and the door."""

import pytest
from django.core.cache import cache
from django.test import Client

from leadflow.capture.models import Refusal, Submission
from leadflow.consent.models import Consent, ConsentStatus
from leadflow.leads.models import Lead, LifecycleStage

from ..factories import LeadFactory
from .conftest import aged_token, answers

pytestmark = pytest.mark.django_db


def post(form, data, **headers):
    return Client().post(f"/forms/{form.key}/submit", data, **headers)


def refusals(form):
    return dict(Refusal.objects.filter(form=form).values_list("reason", "count"))


def test_a_submission_makes_a_prospect_with_consent_and_door(demo_form):
    response = post(demo_form, answers(demo_form), headers={"Origin": "https://www.example.com"})
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == "https://www.example.com"
    lead = Lead.objects.get(contact__email="ada@lovelace.io")
    assert lead.company_name == "Engines" and lead.budget_amount == 25000 and lead.utm_source == "newsletter"
    assert lead.contact.attributes == {"team_size": "11-50"}
    assert lead.lifecycle_stage == LifecycleStage.PROSPECT  # the form counts as explicit intent
    assert lead.source_detail == "Form: Request a demo (html post)"
    consent = Consent.objects.get(contact=lead.contact)
    assert consent.status == ConsentStatus.GIVEN and consent.wording == "Yes, send me product news by email."
    submission = Submission.objects.get()
    assert submission.lead == lead and submission.created_lead and submission.consent_wording == consent.wording


def test_a_second_submission_updates_the_open_lead(demo_form):
    lead = LeadFactory(contact__email="ada@lovelace.io", company_name="")
    assert post(demo_form, answers(demo_form)).status_code == 201
    assert Lead.objects.filter(contact__email="ada@lovelace.io").count() == 1
    lead.refresh_from_db()
    assert lead.company_name == "Engines"
    assert not Submission.objects.get().created_lead


def test_answers_that_do_not_validate_name_their_fields(demo_form):
    response = post(demo_form, answers(demo_form, email="not-an-email", first_name=""),
                    headers={"Accept": "application/json"})  # fmt: skip
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"email", "first_name"}
    assert not Lead.objects.exists() and refusals(demo_form) == {"invalid": 1}


def test_consent_left_unticked_is_not_recorded(demo_form):
    data = answers(demo_form)
    del data["consent"]
    assert post(demo_form, data).status_code == 201
    assert not Consent.objects.exists()
    assert Submission.objects.get().consent_wording == ""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"_lf_token": "forged"}, "token"),
        ({"_lf_website": "http://spam.example"}, "honeypot"),
    ],
)
def test_bots_are_refused_and_counted(demo_form, change, reason):
    response = post(demo_form, answers(demo_form, **change))
    assert response.status_code == 403
    assert not Lead.objects.exists() and refusals(demo_form) == {reason: 1}


def test_a_form_sent_faster_than_a_person_types_is_refused(demo_form):
    response = post(demo_form, answers(demo_form, _lf_token=aged_token(demo_form, seconds=0.5)))
    assert response.status_code == 403 and refusals(demo_form) == {"too_fast": 1}


def test_a_token_of_another_form_is_refused(demo_form, marketer):
    from leadflow.capture.services import save_form

    other = save_form(None, by=marketer, name="Other", fields=[{"label": "Email", "target": "email"}])
    response = post(demo_form, answers(demo_form, _lf_token=aged_token(other)))
    assert response.status_code == 403 and refusals(demo_form) == {"token": 1}


def test_a_page_on_a_site_not_allowed_is_refused_without_cors(demo_form):
    response = post(demo_form, answers(demo_form), headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert refusals(demo_form) == {"origin": 1}


def test_the_rate_limit_counts_the_peer_address_not_a_forwarded_one(demo_form, settings):
    settings.LEADFLOW_CAPTURE_RATE_PER_MINUTE = 2
    cache.clear()  # earlier tests this minute counted submissions from the same address
    statuses = [
        post(demo_form, answers(demo_form, email=f"p{i}@example.org"), headers={"X-Forwarded-For": f"10.0.0.{i}"},
             REMOTE_ADDR="192.0.2.7").status_code
        for i in range(3)
    ]  # fmt: skip
    assert statuses == [201, 201, 429]
    assert Lead.objects.count() == 2 and refusals(demo_form) == {"rate_limit": 1}


def test_the_hosted_page_may_be_framed_only_by_the_forms_sites(demo_form):
    response = Client().get(f"/f/{demo_form.slug}/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "frame-ancestors 'self' https://www.example.com"
    assert "X-Frame-Options" not in response
    assert b"Yes, send me product news by email." in response.content


def test_the_hosted_page_shows_errors_on_its_fields(demo_form):
    data = answers(demo_form, email="nope", _lf_door="hosted")
    response = Client().post(f"/forms/{demo_form.key}/submit", data)
    assert response.status_code == 422
    assert b"Enter a valid email address." in response.content


def test_a_redirect_form_sends_the_visitor_on(demo_form):
    demo_form.redirect_url = "https://www.example.com/thanks"
    demo_form.save()
    response = post(demo_form, answers(demo_form))
    assert response.status_code == 302 and response["Location"] == "https://www.example.com/thanks"


def test_the_embed_script_carries_a_fresh_token_and_the_fields(demo_form):
    response = Client().get(f"/forms/{demo_form.key}.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert b'"name": "team_size"' in response.content and b'"token": "' in response.content
