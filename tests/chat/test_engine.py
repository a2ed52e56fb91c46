"""The bot walks the default script and the steps of small scripts: each step type, branching, typed answers
refused without moving on, and what lands in the CRM."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from leadflow.chat.models import ChatScript, Conversation
from leadflow.chat.services import FIRST_STEPS, answer, save_script, start_conversation
from leadflow.engagement.models import Event, EventType
from leadflow.errors import Conflict, InvalidInput
from leadflow.leads.models import Authority, Lead, LifecycleStage
from leadflow.nurture.models import Enrolment
from leadflow.nurture.services import save_sequence
from leadflow.pipeline.models import Activity
from leadflow.qualification.models import Handoff, QualificationSettings, QualifiedBy
from leadflow.users.models import Notification

from ..factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db

QUALIFYING = ["Slow lead routing", "ann@acme.example", "Yes, we have a budget", "25k", "I do"]


def bot_lines(conversation: Conversation) -> list[str]:
    return [m.text for m in conversation.messages.filter(author="bot")]


def walk(conversation, answers):
    for text in answers:
        conversation = answer(conversation, text)
    return conversation


def test_a_conversation_says_hello_and_waits_at_the_first_question(site, script):
    conversation = start_conversation(site, script)
    assert bot_lines(conversation) == [script.steps[0]["text"], "What are you hoping to solve?"]
    assert conversation.current_step == "need" and conversation.status == "started"


def test_a_qualified_visitor_becomes_a_prospect_in_the_sales_queue(site, script, soon, rep):
    conversation = walk(start_conversation(site, script),
                        [*QUALIFYING, soon, "Head of Sales", "50-199", "Talk to sales"])  # fmt: skip
    lead = Lead.objects.get(contact__email="ann@acme.example")
    assert conversation.is_finished and conversation.outcome == "handoff" and conversation.is_handed_off
    assert lead.lifecycle_stage == LifecycleStage.PROSPECT
    assert (lead.need, lead.budget_amount, lead.budget_confirmed) == ("Slow lead routing", Decimal("25000"), True)
    assert lead.authority == Authority.DECISION_MAKER and lead.timing_target_date.isoformat() == soon
    assert lead.contact.job_title == "Head of Sales" and lead.contact.attributes["company_size"] == "50-199"
    handoff = Handoff.objects.get(lead=lead)
    assert handoff.qualified_by == QualifiedBy.CHAT and "Qualified in a chat" in handoff.reason
    assert Event.objects.filter(lead=lead, type=EventType.FORM_SUBMISSION).exists()  # the door, on the timeline


def test_the_owner_hears_of_a_lead_the_chat_qualified(site, script, soon, rep):
    LeadFactory(contact=ContactFactory(email="ann@acme.example"), owner=rep, team=rep.team)
    walk(start_conversation(site, script), [*QUALIFYING, soon, "CTO", "10-49", "Talk to sales"])
    assert Notification.objects.filter(user=rep, text__startswith="Qualified in a chat").exists()


def test_a_returning_person_updates_their_open_lead(site, script):
    lead = LeadFactory(contact=ContactFactory(email="ann@acme.example"), need="")
    conversation = walk(start_conversation(site, script), ["Reporting", "Ann@Acme.example"])
    assert conversation.lead == lead and not conversation.created_lead
    assert Lead.objects.count() == 1 and Lead.objects.get().need == "Reporting"


def test_no_budget_stays_a_lead_and_is_nurtured_when_the_script_names_a_sequence(site, script, marketer):
    sequence = save_sequence(None, by=marketer, name="Not yet")
    sequence.is_active = True
    sequence.save()
    save_script(script, by=marketer, sequence=sequence)
    conversation = walk(start_conversation(site, script), ["Curious", "bo@beta.example", "No budget yet"])
    lead = conversation.lead
    assert conversation.is_finished and conversation.outcome == "thank_you" and not conversation.is_handed_off
    assert lead.lifecycle_stage == LifecycleStage.LEAD and not Handoff.objects.exists()
    assert Enrolment.objects.filter(lead=lead, sequence=sequence).exists()


def test_no_nurture_without_a_sequence(site, script):
    walk(start_conversation(site, script), ["Curious", "bo@beta.example", "No budget yet"])
    assert not Enrolment.objects.exists()


def test_hand_off_without_the_criteria_leaves_a_lead(site, script):
    far = "2030-01-01"  # past the timing criterion's 180 days
    conversation = walk(start_conversation(site, script), [*QUALIFYING, far, "CTO", "10-49", "Talk to sales"])
    assert conversation.outcome == "handoff" and not conversation.is_handed_off
    assert conversation.lead.lifecycle_stage == LifecycleStage.LEAD


def test_asking_for_a_demo_is_intent_and_plans_a_meeting_for_the_owner(site, script, soon, rep):
    LeadFactory(contact=ContactFactory(email="ann@acme.example"), owner=rep, team=rep.team)
    conversation = walk(start_conversation(site, script), [*QUALIFYING, "2030-01-01", "CTO", "10-49", "Book a demo"])
    lead = conversation.lead
    lead.refresh_from_db()
    assert lead.lifecycle_stage == LifecycleStage.PROSPECT  # the "Demo request" intent rule
    assert Event.objects.filter(lead=lead, type=EventType.DEMO_REQUEST, source="chat").exists()
    assert conversation.is_handed_off and conversation.outcome == "meeting"
    task = Activity.objects.get(lead=lead, kind="task")
    assert task.owner == rep and "Visitor: ann@acme.example" in task.body and "Bot: What would help" in task.body


@pytest.mark.parametrize(
    ("step", "answers", "bad", "message"),
    [
        ("email", ["Need"], "ann@", "does not look like an email"),
        ("budget", ["Need", "a@b.example", "Yes, we have a budget"], "lots", "Give a number"),
        ("budget", ["Need", "a@b.example", "Yes, we have a budget"], "-5", "zero or more"),
        ("timing", ["Need", "a@b.example", "Yes, we have a budget", "10", "I do"], "next week", "YYYY-MM-DD"),
        ("has_budget", ["Need", "a@b.example"], "Maybe", "Choose one of: Yes, we have a budget, No budget yet"),
        ("need", [], "   ", "Type an answer"),
    ],
)
def test_a_bad_typed_answer_is_refused_and_the_conversation_waits(site, script, step, answers, bad, message):
    conversation = walk(start_conversation(site, script), answers)
    before = conversation.messages.count()
    with pytest.raises(InvalidInput) as refused:
        answer(conversation, bad)
    assert message in refused.value.errors["answer"][0]
    conversation.refresh_from_db()
    assert conversation.current_step == step and conversation.messages.count() == before


def test_a_phone_answer_must_be_a_phone_number(site, marketer):
    steps = [
        {"id": "phone", "type": "ask", "text": "Your phone?", "answer": "phone", "field": "phone"},
        {"id": "bye", "type": "end", "text": "Bye"},
    ]
    script, _ = save_script(None, by=marketer, name="Phone", title="Call me", steps=steps)
    conversation = start_conversation(site, script)
    with pytest.raises(InvalidInput):
        answer(conversation, "call me maybe")
    assert answer(conversation, "+1 415 555 0100").is_finished
    assert Conversation.objects.get().fields == {"phone": "+1 415 555 0100"}


def test_say_set_and_branch_steps_run_without_waiting(site, marketer):
    steps = [
        {"id": "size", "type": "ask", "text": "Budget?", "answer": "number"},
        {"id": "route", "type": "branch", "else": "small",
         "rules": [{"answer": "size", "test": "at_least", "value": "10000", "goto": "big"}]},
        {"id": "big", "type": "say", "text": "Big!", "next": "mark"},
        {"id": "small", "type": "say", "text": "Small.", "next": "done"},
        {"id": "mark", "type": "set", "field": "budget_confirmed", "value": "yes"},
        {"id": "done", "type": "end", "text": "Bye"},
    ]  # fmt: skip
    script, warnings = save_script(None, by=marketer, name="Sizes", title="Sizes", steps=steps)
    assert warnings == []
    big = answer(start_conversation(site, script), "20000")
    assert bot_lines(big)[-2:] == ["Big!", "Bye"] and big.answers["mark"] == "True"
    small = answer(start_conversation(site, script), "500")
    assert bot_lines(small)[-2:] == ["Small.", "Bye"] and "mark" not in small.answers


def test_an_ended_conversation_takes_no_more_answers(site, script):
    conversation = walk(start_conversation(site, script), ["Curious", "bo@beta.example", "No budget yet"])
    with pytest.raises(Conflict):
        answer(conversation, "hello?")


def test_off_hours_the_bot_says_when_someone_will_answer(site, script, open_hours):
    QualificationSettings.objects.filter(pk=1).update(business_days=[0, 1, 2, 3, 4], day_starts=9, day_ends=17)
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    first = bot_lines(start_conversation(site, script, at=saturday))[0]
    assert first.startswith("We are away right now: someone will answer from Monday 09:00 (UTC).")
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert bot_lines(start_conversation(site, script, at=monday))[0] == script.steps[0]["text"]


def test_scripts_are_offered_by_page(site, marketer):
    from leadflow.chat.selectors import script_for_page

    pricing, _ = save_script(None, by=marketer, name="Pricing", title="Pricing?", pages="/pricing")
    assert script_for_page(site, "/pricing/teams").pk == pricing.pk
    assert script_for_page(site, "/").name == "Qualify visitors (BANT)"
    ChatScript.objects.update(is_active=False)
    assert script_for_page(site, "/") is None


def test_a_conversation_follows_the_steps_it_started_with(site, script, marketer):
    conversation = start_conversation(site, script)
    save_script(script, by=marketer, steps=FIRST_STEPS)  # the question it waits at is gone from the script
    conversation = answer(conversation, "Reporting")
    assert conversation.current_step == "email" and bot_lines(conversation)[-1].startswith("What is your work email")
    assert start_conversation(site, script).current_step == "email"  # a new chat follows the edited script
