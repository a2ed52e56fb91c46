"""Every class of API error: JSON with a detail and the field at fault, never a 500 on bad input."""

import pytest
from django.test import Client

from leadflow.leads.models import Lead
from leadflow.pipeline.models import Pipeline
from leadflow.pipeline.services import convert_lead

from ..factories import AccountFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_a_malformed_body_is_a_400_naming_the_body(api_as, rep):
    response = api_as(rep).client.post(
        "/api/v1/leads",
        data="{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_as(rep).token}",
    )
    assert response.status_code == 400
    assert "body" in response.json()["errors"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b.example", "source": "carrier-pigeon"}, "source"),
        ({"email": "a@b.example", "authority": "emperor"}, "authority"),
        ({"email": "a@b.example", "budget_amount": "-10"}, "budget_amount"),
        ({"email": "a@b.example", "budget_amount": "lots"}, "budget_amount"),
        ({"email": "a@b.example", "timing_target_date": "next tuesday"}, "timing_target_date"),
        ({"email": "a@b.example", "owner_id": 999999}, "owner_id"),
        ({"email": "a@b.example", "owner_id": "abc"}, "owner_id"),
        ({"email": ["a@b.example"]}, "email"),
        ({}, "email"),
    ],
)
def test_bad_lead_input_is_a_422_naming_the_field(api_as, rep, payload, field):
    response = api_as(rep).post("/leads", payload)
    assert response.status_code == 422, response.json()
    assert field in response.json()["errors"]
    assert Lead.objects.count() == 0


@pytest.mark.parametrize("query", ["limit=0", "limit=1000", "offset=-1", "limit=many"])
def test_bad_paging_is_a_422_naming_the_parameter(api_as, rep, query):
    response = api_as(rep).get(f"/leads?{query}")
    assert response.status_code == 422
    assert query.split("=")[0] in response.json()["errors"]


def test_an_unknown_filter_value_is_a_422(api_as, rep):
    assert "lifecycle_stage" in api_as(rep).get("/leads?lifecycle_stage=hot").json()["errors"]


def test_no_token_is_a_401_that_asks_for_a_bearer_token(client):
    response = client.get("/api/v1/leads")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()


def test_a_wrong_token_is_a_401():
    response = Client().get("/api/v1/leads", HTTP_AUTHORIZATION="Bearer lf_not-a-real-token")
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/leads/999999", "/opportunities/999999", "/activities/999999", "/accounts/999999"])
def test_an_unknown_id_is_a_404(api_as, admin, path):
    response = api_as(admin).get(path)
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("start", "payload"),
    [
        ("lead", {"to": "recycled", "reason": "later"}),
        ("prospect", {"to": "lead"}),
        ("customer", {"to": "lead"}),
        ("lead", {"to": "opportunity"}),
        ("prospect", {"to": "customer"}),
    ],
)
def test_an_illegal_transition_is_a_409_on_the_target(api_as, rep, start, payload):
    lead = LeadFactory(owner=rep, lifecycle_stage=start)
    response = api_as(rep).post(f"/leads/{lead.pk}/transition", payload)
    assert response.status_code == 409, response.json()
    assert "to" in response.json()["errors"]
    assert lead.stage_changes.count() == 1


def test_disqualifying_without_a_reason_is_a_422_on_reason(api_as, rep):
    lead = LeadFactory(owner=rep)
    response = api_as(rep).post(f"/leads/{lead.pk}/transition", {"to": "disqualified"})
    assert response.status_code == 422
    assert "reason" in response.json()["errors"]


def test_a_second_open_lead_for_the_same_email_is_a_409_naming_the_first(api_as, rep):
    api = api_as(rep)
    first = api.post("/leads", {"email": "ana@northwind.example"}).json()
    response = api.post("/leads", {"email": "ANA@Northwind.example"})
    assert response.status_code == 409
    body = response.json()
    assert body["existing_lead_id"] == first["id"]
    assert str(first["id"]) in body["detail"]
    assert "email" in body["errors"]


def test_a_duplicate_account_domain_is_a_409(api_as, rep):
    AccountFactory(domain="northwind.example")
    response = api_as(rep).post("/accounts", {"name": "Northwind again", "domain": "https://www.Northwind.example/"})
    assert response.status_code == 409
    assert "domain" in response.json()["errors"]


def test_closing_lost_without_a_reason_is_a_422_on_lost_reason(api_as, rep):
    deal, _ = convert_lead(LeadFactory(owner=rep, company_name="Contoso"), by=rep)
    response = api_as(rep).post(f"/opportunities/{deal.pk}/close", {"won": False})
    assert response.status_code == 422
    assert "lost_reason" in response.json()["errors"]


def test_an_unknown_stage_is_a_422_on_stage(api_as, rep):
    deal, _ = convert_lead(LeadFactory(owner=rep, company_name="Contoso"), by=rep)
    response = api_as(rep).post(f"/opportunities/{deal.pk}/move", {"stage": 999999})
    assert response.status_code == 422
    assert "stage" in response.json()["errors"]


def test_a_stage_of_another_pipeline_is_a_422_on_stage(api_as, rep):
    deal, _ = convert_lead(LeadFactory(owner=rep, company_name="Contoso"), by=rep)
    other = Pipeline.objects.create(name="Renewals").stages.create(name="Open", order=1, probability=40)
    response = api_as(rep).post(f"/opportunities/{deal.pk}/move", {"stage": other.pk})
    assert response.status_code == 422
    assert "stage" in response.json()["errors"]


def test_a_string_where_an_id_belongs_is_a_422(api_as, rep):
    deal, _ = convert_lead(LeadFactory(owner=rep, company_name="Contoso"), by=rep)
    response = api_as(rep).post(f"/opportunities/{deal.pk}/move", {"stage": "negotiation"})
    assert response.status_code == 422
    assert "stage" in response.json()["errors"]


def test_a_page_past_the_end_is_empty_with_the_true_total(api_as, rep):
    LeadFactory(owner=rep)
    body = api_as(rep).get("/leads?offset=500").json()
    assert (body["items"], body["total"], body["offset"]) == ([], 1, 500)


def test_the_openapi_schema_and_docs_are_served(api_as, rep):
    assert Client().get("/api/v1/openapi.json").status_code == 200
    assert "/api/v1/leads/{lead_id}/transition" in Client().get("/api/v1/openapi.json").json()["paths"]
    assert Client().get("/api/v1/docs").status_code == 200
