"""Nurture in the web app: segments built from condition rows, templates previewed for a lead, sequences as a flow
of steps; marketing and admins only."""

import pytest

from leadflow.nurture.models import Enrolment, Segment, Sequence, Step
from leadflow.nurture.services import add_step, save_segment, save_sequence, save_template

from ..clients import HTMX, signed_in
from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def rows(*conditions: dict) -> dict:
    """Condition rows as the builder posts them."""
    data = {}
    for index, condition in enumerate(conditions):
        for key, value in condition.items():
            data[f"conditions[{index}].{key}"] = value
    return data


@pytest.fixture
def template(marketer):
    body = '<p>Hi {{ contact.first_name }}, read <a href="https://example.com/guide">the guide</a>.</p>'
    return save_template(None, by=marketer, name="Welcome", subject="Hi {{ contact.first_name }}", body=body)


@pytest.fixture
def sequence(marketer):
    return save_sequence(None, by=marketer, name="Welcome series")


@pytest.mark.parametrize(
    "path", ["/nurture/", "/nurture/segments/", "/nurture/segments/new/", "/nurture/templates/new/"]
)
def test_a_rep_finds_no_nurture_pages(rep, path):
    assert signed_in(rep).get(path).status_code == 404


def test_only_marketing_and_admins_see_nurture_in_the_menu(rep, marketer, admin):
    assert ">Nurture</a>" not in signed_in(rep).get("/").content.decode()
    assert ">Nurture</a>" in signed_in(marketer).get("/").content.decode()
    assert ">Nurture</a>" in signed_in(admin).get("/").content.decode()


def test_a_rep_cannot_post_to_a_sequence(rep, sequence):
    response = signed_in(rep).post(f"/nurture/sequences/{sequence.pk}/steps/", {"kind": "notify", "text": "Hi"})
    assert response.status_code == 404
    assert not Step.objects.exists()


def test_building_a_segment_saves_its_rows_as_conditions(marketer):
    data = {
        "name": "Pricing VPs", "description": "", "match": "all",
        **rows({"field": "seniority", "op": "in", "value": "vp, c_suite"},
               {"field": "event", "op": "at_least", "value": "2", "type": "pricing_page_view", "within_days": "14",
                "property": "", "contains": ""}),
    }  # fmt: skip
    response = signed_in(marketer).post("/nurture/segments/new/", data)
    segment = Segment.objects.get(name="Pricing VPs")
    assert response.status_code == 302 and response["Location"] == f"/nurture/segments/{segment.pk}/"
    assert segment.conditions == [
        {"field": "seniority", "op": "in", "value": ["vp", "c_suite"]},
        {"field": "event", "op": "at_least", "value": 2, "type": "pricing_page_view", "within_days": 14},
    ]


def test_a_refused_condition_is_shown_on_its_row(marketer):
    data = {"name": "Scored", "match": "all", **rows({"field": "score", "op": "gte", "value": "high"})}
    response = signed_in(marketer).post("/nurture/segments/new/", data)
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="id_conditions[0].value-error"' not in page  # rows carry their own error lines
    row = page.split('id="condition-0"')[1].split('id="condition-1"')[0]
    assert "Must be a number." in row
    assert not Segment.objects.exists()


def test_the_builder_adds_and_removes_rows_and_previews_the_count(marketer):
    LeadFactory(contact=ContactFactory(seniority="vp", first_name="Vera", last_name="Vance"))
    LeadFactory(contact=ContactFactory(seniority="manager"))
    client = signed_in(marketer)
    vp = rows({"field": "seniority", "op": "in", "value": "vp"})
    added = client.post("/nurture/segments/rows/", {"match": "all", "action": "add", **vp}, **HTMX).content.decode()
    assert 'id="condition-1"' in added and 'hx-swap-oob="true"' in added
    removed = client.post("/nurture/segments/rows/", {"match": "all", "action": "remove:0", **vp}, **HTMX)
    assert 'id="condition-0"' not in removed.content.decode()
    preview = client.post("/nurture/segments/preview/", {"match": "all", **vp}, **HTMX).content.decode()
    assert '<span class="value" id="segment-count">1</span>' in preview and "Vera Vance" in preview


def test_a_preview_of_a_bad_row_says_which_row(marketer):
    data = {"match": "all", **rows({"field": "seniority", "op": "in", "value": "vp"},
                                   {"field": "score", "op": "gte", "value": "lots"})}  # fmt: skip
    preview = signed_in(marketer).post("/nurture/segments/preview/", data, **HTMX).content.decode()
    assert "Condition 2, value: Must be a number." in preview


def test_changing_a_rows_field_offers_that_fields_conditions(marketer):
    data = {"match": "all", **rows({"field": "event", "op": "in", "value": ""})}
    page = signed_in(marketer).post("/nurture/segments/rows/", data, **HTMX).content.decode()
    assert 'value="at_least"' in page and 'value="not_in"' not in page and "Within (days)" in page


def test_the_segment_list_shows_live_counts(marketer):
    LeadFactory(contact=ContactFactory(seniority="vp"))
    save_segment(None, by=marketer, name="VPs", conditions=[{"field": "seniority", "op": "in", "value": ["vp"]}])
    page = signed_in(marketer).get("/nurture/segments/").content.decode()
    assert "VPs" in page and '<td class="num"><strong>1</strong></td>' in page


def test_a_template_is_saved_and_previewed_for_a_chosen_lead(marketer):
    lead = LeadFactory(contact=ContactFactory(first_name="Ana"))
    client = signed_in(marketer)
    body = '<p class="x">Dear {{ contact.first_name }}</p>'
    response = client.post("/nurture/templates/new/", {"name": "Hello", "subject": "Hi {{ contact.first_name }}",
                                                        "body": body})  # fmt: skip
    assert response.status_code == 302
    template_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    preview = client.get(f"/nurture/templates/{template_id}/preview/", {"lead": lead.pk}, **HTMX).content.decode()
    assert '<dd class="email-subject">Hi Ana</dd>' in preview
    # the HTML is escaped into the sandboxed frame's srcdoc, quotes too
    assert 'srcdoc="&lt;p class=&quot;x&quot;&gt;Dear Ana&lt;/p&gt;"' in preview
    assert '<pre class="email-text">Dear Ana\n</pre>' in preview


def test_a_template_with_a_forbidden_tag_is_refused_on_its_field(marketer):
    response = signed_in(marketer).post("/nurture/templates/new/", {"name": "Bad", "subject": "Hi",
                                                                     "body": "{% debug %}"})  # fmt: skip
    assert response.status_code == 422
    assert 'id="id_body-error">The tag {% debug %} is not allowed in emails.' in response.content.decode()


def test_a_preview_for_an_empty_segment_says_so(marketer, template):
    empty = save_segment(None, by=marketer, name="Nobody", conditions=[{"field": "score", "op": "gte", "value": 999}])
    page = signed_in(marketer).get(f"/nurture/templates/{template.pk}/preview/", {"segment": empty.pk}, **HTMX)
    assert "This segment has no open leads now." in page.content.decode()


def test_a_sequence_is_created_from_the_list(marketer):
    response = signed_in(marketer).post("/nurture/sequences/new/", {"name": "Drip", "exit_when": ["replied"]})
    sequence = Sequence.objects.get(name="Drip")
    assert response["Location"] == f"/nurture/sequences/{sequence.pk}/" and sequence.exit_when == ["replied"]


def test_steps_are_added_by_kind_and_shown_as_a_flow(marketer, sequence, template):
    client = signed_in(marketer)
    path = f"/nurture/sequences/{sequence.pk}/steps/"
    client.post(path, {"kind": "email", "template_id": template.pk, "test_metric": "open"})
    client.post(path, {"kind": "wait", "days": "3"})
    client.post(path, {"kind": "branch", "condition": "opened", "else_go_to": "5"})
    client.post(path, {"kind": "wait", "weekday": "1", "hour": "10"})
    client.post(path, {"kind": "create_task", "subject": "Call them", "due_days": "2"})
    assert [(step.kind, step.config) for step in sequence.steps.all()] == [
        ("email", {}), ("wait", {"days": 3}), ("branch", {"if": {"kind": "opened"}, "else_go_to": 5}),
        ("wait", {"weekday": 1, "hour": 10}), ("create_task", {"subject": "Call them", "due_days": 2}),
    ]  # fmt: skip
    page = client.get(f"/nurture/sequences/{sequence.pk}/").content.decode()
    assert "“Welcome”" in page and "3 days" in page and "until Tue 10:00 in the lead&#x27;s time zone" in page
    assert "if the lead opened an email of this sequence" in page and "else → step 5" in page
    assert "“Call them”, due in 2 days" in page


def test_a_refused_step_is_shown_on_its_field(marketer, sequence):
    response = signed_in(marketer).post(f"/nurture/sequences/{sequence.pk}/steps/", {"kind": "wait"})
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="id_wait_days-error">Wait some days or hours, or until a weekday and hour.' in page
    assert '<details class="add-step" open>' in page


def test_starting_needs_a_step_then_leads_are_enrolled_by_id(marketer, sequence, template):
    client = signed_in(marketer)
    refused = client.post(f"/nurture/sequences/{sequence.pk}/toggle/", follow=True).content.decode()
    assert "Add a step before starting the sequence." in refused
    add_step(sequence, by=marketer, kind="email", template=template)
    started = client.post(f"/nurture/sequences/{sequence.pk}/toggle/", follow=True).content.decode()
    assert "Welcome series started." in started and "Stop sequence" in started
    leads = [LeadFactory(), LeadFactory()]
    ids = f"{leads[0].pk}, {leads[1].pk}"
    enrolled = client.post(f"/nurture/sequences/{sequence.pk}/enrol/", {"lead_ids": ids}, follow=True)
    assert "Enrolled 2 of 2 leads." in enrolled.content.decode()
    assert Enrolment.objects.filter(sequence=sequence).count() == 2
    unknown = client.post(f"/nurture/sequences/{sequence.pk}/enrol/", {"lead_ids": "999999"})
    assert unknown.status_code == 422 and "No lead with id 999999." in unknown.content.decode()


def test_the_sequence_list_shows_status_and_figures(marketer, sequence, template):
    add_step(sequence, by=marketer, kind="email", template=template)
    page = signed_in(marketer).get("/nurture/").content.decode()
    assert "Welcome series" in page and "Stopped" in page and '<td class="num">1</td>' in page
