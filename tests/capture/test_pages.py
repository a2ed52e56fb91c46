"""The Capture section: the builder saves a form with its fields, the dashboard shows the figures."""

import pytest

from leadflow.capture.models import Form

from ..clients import signed_in
from .conftest import answers

pytestmark = pytest.mark.django_db

BUILDER = {
    "name": "Contact sales", "slug": "", "title": "Talk to sales", "intro": "", "submit_label": "Send",
    "consent_wording": "", "thank_you_message": "Thanks!", "redirect_url": "", "allowed_origins": "https://a.example",
    "lead_source": "inbound_marketing", "is_active": "on",
    "fields-TOTAL_FORMS": "3", "fields-INITIAL_FORMS": "0", "fields-MIN_NUM_FORMS": "0", "fields-MAX_NUM_FORMS": "40",
    "fields-0-label": "Email", "fields-0-kind": "email", "fields-0-target": "email",
    "fields-1-label": "Your need", "fields-1-kind": "textarea", "fields-1-target": "need", "fields-1-required": "on",
    "fields-2-label": "", "fields-2-kind": "text", "fields-2-target": "first_name",
}  # fmt: skip


def test_the_builder_saves_a_form_with_its_fields(marketer):
    response = signed_in(marketer).post("/capture/forms/new/", BUILDER)
    form = Form.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/capture/forms/{form.pk}/"
    assert form.slug == "contact-sales"
    assert [(f.name, f.target, f.required) for f in form.fields.all()] == [("email", "email", True),
                                                                          ("your_need", "need", True)]  # fmt: skip
    page = signed_in(marketer).get(response["Location"])
    assert page.status_code == 200 and f"/forms/{form.key}.js".encode() in page.content


def test_the_builder_names_what_is_wrong(marketer):
    data = {**BUILDER, "fields-0-target": "first_name", "allowed_origins": "not an origin"}
    response = signed_in(marketer).post("/capture/forms/new/", data)
    assert response.status_code == 422 and b"is not an origin like" in response.content
    assert not Form.objects.exists()


def test_the_dashboard_shows_conversion(marketer, demo_form, client):
    client.post(f"/forms/{demo_form.key}/submit", answers(demo_form))
    client.post(f"/forms/{demo_form.key}/submit", answers(demo_form, email="bo@example.org", utm_source=""))
    response = signed_in(marketer).get("/capture/")
    assert response.status_code == 200
    row = response.content.decode().split("Request a demo")[1].split("</tr>")[0]
    assert [cell.split("<")[0].strip() for cell in row.split('<td class="num">')[1:]] == ["2", "2", "2", "0", "0"]
    builder = signed_in(marketer).get(f"/capture/forms/{demo_form.pk}/")
    assert builder.status_code == 200 and b"ada@lovelace.io" not in builder.content  # the lead shows by name
    assert b"Ada" in builder.content and b"newsletter" in builder.content  # its campaign (utm_source)


def test_sales_cannot_see_capture(rep):
    assert signed_in(rep).get("/capture/").status_code == 404


def test_the_lead_page_shows_the_door_and_the_consent(marketer, demo_form, client):
    client.post(f"/forms/{demo_form.key}/submit", answers(demo_form))
    lead = demo_form.submissions.get().lead
    page = signed_in(marketer).get(f"/leads/{lead.pk}/").content.decode()
    assert "Came by</dt><dd>Form: Request a demo (html post)" in page
    assert "Marketing email: given" in page and "Yes, send me product news by email." in page
    assert "Form submission: Form: Request a demo (html post)" in page  # on the timeline
