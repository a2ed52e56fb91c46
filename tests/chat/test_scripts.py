"""Saving a chat script: who may, and the steps checked as a whole (each wrong one named)."""

import pytest

from leadflow.chat.models import ChatScript
from leadflow.chat.script import clean_steps
from leadflow.chat.services import FIRST_STEPS, save_script
from leadflow.errors import Conflict, InvalidInput, NotAllowed

pytestmark = pytest.mark.django_db

END = {"id": "bye", "type": "end", "text": "Bye"}


def refused_on(steps) -> str:
    with pytest.raises(InvalidInput) as refused:
        clean_steps(steps)
    return next(iter(refused.value.errors))


def test_the_default_script_is_valid_and_reaches_every_step(script):
    checked = clean_steps(script.steps)
    assert checked.warnings == [] and checked.steps == script.steps


def test_a_new_script_starts_with_a_greeting_the_email_and_thanks(marketer):
    script, warnings = save_script(None, by=marketer, name="Support")
    assert script.steps == clean_steps(FIRST_STEPS).steps and warnings == []


def test_only_marketing_and_admins_edit_scripts(rep, manager, script):
    for user in (rep, manager):
        with pytest.raises(NotAllowed):
            save_script(script, by=user, title="Hi")


def test_a_second_script_of_the_same_name_is_a_conflict(marketer, script):
    with pytest.raises(Conflict):
        save_script(None, by=marketer, name=script.name)


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([], "steps"),
        ("not a list", "steps"),
        ([{"id": "a", "type": "dance", "text": "x"}, END], "steps[0].type"),
        ([{"id": "a b", "type": "say", "text": "x"}, END], "steps[0].id"),
        ([{"id": "a", "type": "say", "text": ""}, END], "steps[0].text"),
        ([{"id": "a", "type": "say", "text": "x"}, {**END, "id": "a"}], "steps[1].id"),
        ([{"id": "a", "type": "say", "text": "x", "next": "nowhere"}, END], "steps[0].next"),
        ([{"id": "a", "type": "say", "text": "x"}], "steps[0].next"),
        ([{"id": "a", "type": "say", "text": "x", "next": "a"}], "steps"),
        ([{"id": "q", "type": "ask", "text": "x", "answer": "colour"}, END], "steps[0].answer"),
        ([{"id": "q", "type": "ask", "text": "x", "answer": "buttons", "options": []}, END], "steps[0].options"),
        ([{"id": "q", "type": "ask", "text": "x", "answer": "buttons", "options": ["A", "a"]}, END],
         "steps[0].options"),
        ([{"id": "q", "type": "ask", "text": "x", "answer": "buttons", "options": [{"label": "A", "intent": "hug"}]},
          END], "steps[0].options[0].intent"),
        ([{"id": "q", "type": "ask", "text": "x", "answer": "text", "field": "email"}, END], "steps[0].field"),
        ([{"id": "q", "type": "ask", "text": "x", "answer": "text", "field": "shoe_size"}, END], "steps[0].field"),
        ([{"id": "s", "type": "set", "field": "budget_amount", "value": "lots"}, END], "steps[0].value"),
        ([{"id": "q", "type": "ask", "text": "x", "answer": "buttons", "field": "budget_confirmed",
           "options": ["Sure"]}, END], "steps[0].options[0].value"),
        ([{"id": "b", "type": "branch", "rules": [], "else": "nowhere"}, END], "steps[0].else"),
        ([{"id": "b", "type": "branch", "else": "bye", "rules": [{"answer": "b", "value": "x", "goto": "bye"}]}, END],
         "steps[0].rules[0].answer"),
        ([{"id": "q", "type": "ask", "text": "x", "answer": "number"},
          {"id": "b", "type": "branch", "else": "bye",
           "rules": [{"answer": "q", "test": "at_least", "value": "many", "goto": "bye"}]}, END],
         "steps[1].rules[0].value"),
        ([{"id": "a", "type": "say", "text": "x"}, {"id": "b", "type": "say", "text": "y", "next": "a"}, END],
         "steps[0]"),
        ([{"id": "e", "type": "end", "text": "x", "outcome": "party"}], "steps[0].outcome"),
    ],
)  # fmt: skip
def test_a_wrong_step_is_refused_naming_it(steps, field):
    assert refused_on(steps) == field


def test_a_step_no_path_reaches_is_saved_with_a_warning(marketer):
    steps = [{"id": "hi", "type": "end", "text": "Bye"}, {"id": "lost", "type": "say", "text": "x", "next": "hi"}]
    script, warnings = save_script(None, by=marketer, name="Odd", steps=steps)
    assert warnings == ["No path reaches step lost."] and ChatScript.objects.get(pk=script.pk).steps[1]["id"] == "lost"


def test_a_refused_script_changes_nothing(marketer, script):
    before = script.steps
    with pytest.raises(InvalidInput):
        save_script(script, by=marketer, title="New title", steps=[{"id": "x", "type": "say", "text": "x"}])
    script.refresh_from_db()
    assert script.steps == before and script.title == "Questions? Chat with us"


def test_pages_are_paths(marketer, script):
    with pytest.raises(InvalidInput) as refused:
        save_script(script, by=marketer, pages="pricing")
    assert "pages" in refused.value.errors
    assert save_script(script, by=marketer, pages="/pricing\n/demo\n/pricing")[0].pages == "/pricing\n/demo"
