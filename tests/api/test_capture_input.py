"""Bad input to the capture API is a 4xx naming the field, never a 500: nulls, lengths, types, a taken slug."""

import pytest

from leadflow.api.columns import BIGINT_MAX
from leadflow.capture.models import Form, WebhookSource

from ..capture.conftest import DEMO_FIELDS
from .test_bad_input import assert_refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(api_as, marketer):
    response = api_as(marketer).post("/capture/forms", {"name": "Request a demo", "fields": DEMO_FIELDS})
    assert response.status_code == 201, response.content
    return Form.objects.get(pk=response.json()["id"])


@pytest.fixture
def source(api_as, marketer):
    response = api_as(marketer).post("/capture/sources", {"name": "Spring ads", "kind": "facebook"})
    assert response.status_code == 201, response.content
    return WebhookSource.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize("field", ["name", "consent_wording", "lead_source", "is_active", "fields", "slug"])
def test_null_for_a_form_setting_that_cannot_be_empty_is_refused(api_as, marketer, form, field):
    assert_refused(api_as(marketer).patch(f"/capture/forms/{form.pk}", {field: None}), 422, field)
    form.refresh_from_db()
    assert form.name == "Request a demo" and form.lead_source and form.is_active


@pytest.mark.parametrize("field", ["name", "lead_source", "kind", "auth", "secret", "field_mapping"])
def test_null_for_a_source_setting_that_cannot_be_empty_is_refused(api_as, marketer, source, field):
    assert_refused(api_as(marketer).patch(f"/capture/sources/{source.pk}", {field: None}), 422, field)


def test_null_clears_the_sequence_and_the_person_to_notify(api_as, marketer, form):
    response = api_as(marketer).patch(f"/capture/forms/{form.pk}", {"sequence_id": None, "notify_id": None})
    assert response.status_code == 200 and response.json()["notify_id"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"slug": "x" * 81}, "slug"),
        ({"submit_label": "x" * 61}, "submit_label"),
        ({"redirect_url": "https://example.com/" + "x" * 200}, "redirect_url"),
        ({"title": "a\x00b"}, "title"),
        ({"is_active": "yes"}, "is_active"),
        ({"sequence_id": 0}, "sequence_id"),
        ({"notify_id": BIGINT_MAX + 1}, "notify_id"),
        ({"slug": "!!!"}, "slug"),
    ],
)
def test_a_form_setting_out_of_bounds_is_refused(api_as, marketer, form, payload, field):
    assert_refused(api_as(marketer).patch(f"/capture/forms/{form.pk}", payload), 422, field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label": "x" * 201}, "label"),
        ({"help_text": "x" * 301}, "help_text"),
        ({"name": "x" * 61}, "name"),
        ({"required": 1}, "required"),
        ({"label": "!!!", "name": ""}, "fields[0].name"),
    ],
)
def test_a_form_field_out_of_bounds_is_refused_naming_it(api_as, marketer, form, change, field):
    fields = [{**DEMO_FIELDS[0], **change}, *DEMO_FIELDS[1:]]
    body = api_as(marketer).patch(f"/capture/forms/{form.pk}", {"fields": fields}).json()
    assert any(field in name for name in body["errors"]), body


def test_a_property_name_that_grows_when_made_a_slug_is_cut_to_its_column(api_as, marketer, form):
    fields = [*DEMO_FIELDS, {"label": "Unit", "target": "property", "property_name": "\u338f" * 60}]
    response = api_as(marketer).patch(f"/capture/forms/{form.pk}", {"fields": fields})
    assert response.status_code == 200, response.content
    assert response.json()["fields"][-1]["property_name"] == "kg" * 30


def test_a_slug_another_form_has_is_a_conflict(api_as, marketer, form):
    response = api_as(marketer).post("/capture/forms", {"name": "Other", "slug": form.slug, "fields": DEMO_FIELDS})
    assert_refused(response, 409, "slug")
    assert Form.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"secret": "short"}, "secret"),
        ({"secret": "x" * 201}, "secret"),
        ({"field_mapping": {"a": "em\x00ail"}}, "field_mapping.a"),
        ({"is_explicit_intent": 0}, "is_explicit_intent"),
    ],
)
def test_a_source_setting_out_of_bounds_is_refused(api_as, marketer, source, payload, field):
    assert_refused(api_as(marketer).patch(f"/capture/sources/{source.pk}", payload), 422, field)


@pytest.mark.parametrize("path", ["/capture/forms/0", "/capture/sources/-1/deliveries", f"/capture/forms/{2**70}"])
def test_an_id_out_of_range_is_refused(api_as, marketer, path):
    assert api_as(marketer).get(path).status_code == 422


def test_capture_and_duplicate_operations_document_their_statuses(api_as, admin):
    schema = api_as(admin).get("/openapi.json").json()
    paths = schema["paths"]
    assert "409" in paths["/api/v1/capture/forms"]["post"]["responses"]
    assert "409" in paths["/api/v1/capture/forms/{form_id}"]["patch"]["responses"]
    assert "409" in paths["/api/v1/duplicates/{pair_id}/merge"]["post"]["responses"]
    assert {"PairMergeIn", "MergeIn", "WebhookDeliveryOut"} <= set(schema["components"]["schemas"])
