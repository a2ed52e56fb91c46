"""Forms and lead-ads sources through the API, in the OpenAPI schema."""

import pytest

from leadflow.capture.models import Form

from ..capture.conftest import DEMO_FIELDS

pytestmark = pytest.mark.django_db


def test_marketing_builds_a_form_through_the_api(api_as, marketer):
    api = api_as(marketer)
    response = api.post("/capture/forms", {"name": "Request a demo", "allowed_origins": ["https://www.example.com/"],
                                            "is_explicit_intent": True, "fields": DEMO_FIELDS})  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "request-a-demo" and body["allowed_origins"] == ["https://www.example.com"]
    assert [field["name"] for field in body["fields"]] == ["email", "first_name", "company", "budget", "team_size"]
    patched = api.patch(f"/capture/forms/{body['id']}", {"double_opt_in": True})
    assert patched.status_code == 422 and "consent_wording" in patched.json()["errors"]
    assert api.get(f"/capture/forms/{body['id']}/submissions").json()["total"] == 0


def test_a_form_without_an_email_field_is_refused_naming_it(api_as, marketer):
    response = api_as(marketer).post(
        "/capture/forms", {"name": "X", "fields": [{"label": "Name", "target": "first_name"}]}
    )
    assert response.status_code == 422 and "fields" in response.json()["errors"]
    assert not Form.objects.exists()


def test_sources_and_their_deliveries(api_as, marketer):
    api = api_as(marketer)
    created = api.post("/capture/sources", {"name": "Spring ads", "kind": "facebook", "secret": "app-secret-1"})
    assert created.status_code == 201 and "secret" not in created.json()
    source_id = created.json()["id"]
    assert api.get(f"/capture/sources/{source_id}/deliveries").json()["items"] == []
    bad = api.patch(f"/capture/sources/{source_id}", {"field_mapping": {"x": "nope"}})
    assert bad.status_code == 422 and "field_mapping" in bad.json()["errors"]


def test_sales_cannot_reach_capture(api_as, rep):
    assert api_as(rep).get("/capture/forms").status_code == 404


def test_capture_is_in_the_openapi_schema(api_as, marketer):
    paths = api_as(marketer).get("/openapi.json").json()["paths"]
    assert {"/api/v1/capture/forms", "/api/v1/capture/sources/{source_id}/deliveries"} <= set(paths)
