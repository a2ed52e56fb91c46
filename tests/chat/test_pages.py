"""The chat pages: scripts with their report, the builder, conversations and their transcripts, which show on the
lead page and are linked from the sales queue, each only to who may see them."""

import pytest
from django.test import Client

from leadflow.chat.models import ChatScript
from leadflow.chat.services import answer, start_conversation

from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows_of(script) -> dict:
    """The builder's post for the script as it is, one row per step."""
    data = {"name": script.name, "title": script.title, "lead_source": script.lead_source, "is_active": "on",
            "steps-TOTAL_FORMS": str(len(script.steps) + 1), "steps-INITIAL_FORMS": str(len(script.steps)),
            "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "100"}  # fmt: skip
    for index, step in enumerate(script.steps):
        prefix = f"steps-{index}-"
        data.update({prefix + key: step.get(key, "") for key in ("id", "type", "text", "answer", "field", "value",
                                                                  "next", "outcome")})  # fmt: skip
        data[prefix + "else_step"] = step.get("else", "")
        data[prefix + "options"] = "\n".join(
            f"{o['label']} | {o['value']} | {o['intent']}" for o in step.get("options", [])
        )
        data[prefix + "rules"] = "\n".join(
            f"{r['answer']} {r['test']} {r['value']} -> {r['goto']}" for r in step.get("rules", [])
        )
        if step.get("nurture"):
            data[prefix + "nurture"] = "on"
    data[f"steps-{len(script.steps)}-type"] = "say"  # the empty row, as the browser sends it
    return data


def test_marketing_sees_each_script_with_its_report(marketer, site, script):
    answer(start_conversation(site, script), "Reporting")
    page = signed_in(marketer).get("/chats/")
    assert page.status_code == 200
    row = page.content.decode()
    assert script.name in row and site.key in row  # the widget tag for the site


def test_sales_and_managers_have_no_script_pages(rep, manager, script):
    for user in (rep, manager):
        assert signed_in(user).get("/chats/").status_code == 404
        assert signed_in(user).get(f"/chats/scripts/{script.pk}/").status_code == 404


def test_the_builder_shows_the_steps_and_saves_a_new_one(marketer, script):
    client = signed_in(marketer)
    assert "has_budget equals no -&gt; no_budget" in client.get(f"/chats/scripts/{script.pk}/").content.decode()
    data = rows_of(script)
    extra = f"steps-{len(script.steps)}-"
    data.update(
        {extra + "id": "goodbye", extra + "type": "end", extra + "text": "See you", extra + "outcome": "thank_you"}
    )
    data["steps-0-text"] = "Hello there!"
    response = client.post(f"/chats/scripts/{script.pk}/", data, follow=True)
    assert response.status_code == 200 and "No path reaches step goodbye." in response.content.decode()
    script.refresh_from_db()
    assert script.steps[0]["text"] == "Hello there!" and script.steps[-1]["id"] == "goodbye"
    assert script.steps[4]["rules"] == [{"answer": "has_budget", "test": "equals", "value": "no", "goto": "no_budget"}]


def test_the_builder_puts_a_wrong_step_s_error_on_its_row_and_saves_nothing(marketer, script):
    before = script.steps
    data = rows_of(script)
    data["steps-1-next"] = "nowhere"
    response = signed_in(marketer).post(f"/chats/scripts/{script.pk}/", data)
    assert response.status_code == 422 and "No step is called nowhere." in response.content.decode()
    assert ChatScript.objects.get(pk=script.pk).steps == before


def test_deleting_a_step_someone_branches_to_is_refused(marketer, script):
    data = rows_of(script)
    index = next(i for i, step in enumerate(script.steps) if step["id"] == "no_budget")
    data[f"steps-{index}-DELETE"] = "on"
    response = signed_in(marketer).post(f"/chats/scripts/{script.pk}/", data)
    assert response.status_code == 422 and "No step is called no_budget." in response.content.decode()


def test_the_transcript_shows_on_the_lead_page_and_the_queue_links_it(rep, site, script, soon):
    lead = LeadFactory(contact=ContactFactory(email="ann@acme.example"), owner=rep, team=rep.team)
    conversation = start_conversation(site, script)
    for text in ["Slow routing", "ann@acme.example", "Yes, we have a budget", "25000", "I do", soon, "CTO",
                 "10-49", "Talk to sales"]:  # fmt: skip
        conversation = answer(conversation, text)
    client = signed_in(rep)
    lead_page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Chat transcripts" in lead_page and "Slow routing" in lead_page
    assert "Chat: Qualify visitors (BANT) (hand to sales)" in lead_page  # on the timeline
    queue = client.get("/queue/").content.decode()
    assert f"/chats/conversations/{conversation.pk}/" in queue
    transcript = client.get(f"/chats/conversations/{conversation.pk}/")
    assert transcript.status_code == 200 and "Is there a budget set aside for this?" in transcript.content.decode()


def test_a_transcript_of_a_lead_the_user_may_not_see_is_a_404(rep, west, site, script):
    from ..factories import UserFactory

    stranger = UserFactory(username="steve", role="sales", team=west)
    LeadFactory(contact=ContactFactory(email="ann@acme.example"), owner=rep, team=rep.team)
    conversation = answer(answer(start_conversation(site, script), "Need"), "ann@acme.example")
    assert signed_in(stranger).get(f"/chats/conversations/{conversation.pk}/").status_code == 404
    assert "ann@acme" not in signed_in(stranger).get("/chats/conversations/").content.decode()
    assert signed_in(rep).get(f"/chats/conversations/{conversation.pk}/").status_code == 200


def test_anonymous_conversations_are_for_those_who_run_the_chat(rep, marketer, site, script):
    conversation = start_conversation(site, script)
    assert signed_in(rep).get(f"/chats/conversations/{conversation.pk}/").status_code == 404
    assert signed_in(marketer).get(f"/chats/conversations/{conversation.pk}/").status_code == 200
