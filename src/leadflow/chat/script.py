"""A chat script's steps: their kinds, the fields answers may set, validating a script before it is saved, and
reading a visitor's typed answer.

A script is a list of steps, each a dict with an `id` (unique in the script) and a `type`:
- `say`: the bot says `text`.
- `ask`: the bot asks `text` and waits for an answer of kind `answer` (text, buttons, email, phone, number, date);
  buttons offer `options`, each {"label", "value" (what is stored; the label when empty), "intent" ("demo" or
  "pricing": the visitor asked for one, which the intent rules judge)}; `field` names where the answer goes.
- `set`: sets `field` to `value` (e.g. budget_confirmed to yes).
- `branch`: goes to the `goto` of the first of its `rules` ({"answer": an ask step's id, "test": equals, contains,
  at_least, below, "value", "goto"}) that holds, else to `else`.
- `end`: the bot says `text` and the conversation ends with an `outcome` (thank_you, meeting: a task for the
  owner with the transcript, handoff: to sales if the qualification criteria are met); `nurture` enrols a lead
  not handed to sales in the script's sequence.
Every step but `branch` and `end` goes on to `next`, or to the step after it when `next` is empty.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_date

from leadflow.accounts.matching import phone_key
from leadflow.accounts.models import EmployeeBand
from leadflow.errors import InvalidInput
from leadflow.leads.models import Authority

from .models import Outcome

STEP_TYPES = ("say", "ask", "set", "branch", "end")
ANSWER_KINDS = ("text", "buttons", "email", "phone", "number", "date")
TESTS = ("equals", "contains", "at_least", "below")
INTENTS = ("demo", "pricing")
# Where an answer may go, with the answer kinds that suit it.
FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "first_name": ("text",),
    "last_name": ("text",),
    "phone": ("phone",),
    "job_title": ("text", "buttons"),
    "company_name": ("text",),
    "company_size": ("buttons", "text"),
    "budget_amount": ("number",),
    "budget_confirmed": ("buttons",),
    "authority": ("buttons", "text"),
    "need": ("text", "buttons"),
    "timing_target_date": ("date",),
}
MAX_STEPS = 100
MAX_TEXT = 1000
MAX_ANSWER = 1000
YES = {"yes", "true", "1", "y"}
NO = {"no", "false", "0", "n"}


@dataclass(frozen=True)
class Checked:
    """A script's steps as saved, and what is odd about them but allowed (a step no path reaches)."""

    steps: list[dict[str, Any]]
    warnings: list[str]


def _text(step: dict, key: str, where: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = step.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput.on(f"{where}.{key}", "Give text.")
    value = value.strip()
    if "\x00" in value:
        raise InvalidInput.on(f"{where}.{key}", "Text may not contain a NUL character.")
    if required and not value:
        raise InvalidInput.on(f"{where}.{key}", "This field is required.")
    if len(value) > limit:
        raise InvalidInput.on(f"{where}.{key}", f"At most {limit} characters.")
    return value


def _options(step: dict, where: str) -> list[dict[str, str]]:
    raw = step.get("options") or []
    if not isinstance(raw, list):
        raise InvalidInput.on(f"{where}.options", "Give a list of buttons.")
    options = []
    for index, item in enumerate(raw):
        at = f"{where}.options[{index}]"
        if isinstance(item, str):
            item = {"label": item}
        if not isinstance(item, dict):
            raise InvalidInput.on(at, "Give a button as {label, value, intent}.")
        label = _text(item, "label", at, required=True, limit=80)
        value = _text(item, "value", at, limit=200) or label
        intent = _text(item, "intent", at, limit=20)
        if intent and intent not in INTENTS:
            raise InvalidInput.on(f"{at}.intent", f"Must be one of: {', '.join(INTENTS)}, or empty.")
        options.append({"label": label, "value": value, "intent": intent})
    if len({option["label"].lower() for option in options}) != len(options):
        raise InvalidInput.on(f"{where}.options", "Two buttons have the same label.")
    return options


def _clean_step(step: Any, where: str) -> dict[str, Any]:
    if not isinstance(step, dict):
        raise InvalidInput.on(where, "Give a step as an object with an id and a type.")
    kind = step.get("type")
    if kind not in STEP_TYPES:
        raise InvalidInput.on(f"{where}.type", f"Must be one of: {', '.join(STEP_TYPES)}.")
    step_id = _text(step, "id", where, required=True, limit=60)
    if not step_id.replace("_", "").replace("-", "").isalnum() or not step_id.isascii():
        raise InvalidInput.on(f"{where}.id", "Use letters, digits, - and _ only.")
    clean: dict[str, Any] = {"id": step_id, "type": kind}
    if kind in ("say", "ask", "end"):
        clean["text"] = _text(step, "text", where, required=True)
    if kind in ("say", "ask", "set"):
        clean["next"] = _text(step, "next", where, limit=60)
    if kind in ("ask", "set"):
        clean["field"] = _text(step, "field", where, required=kind == "set", limit=40)
        if clean["field"] and clean["field"] not in FIELDS:
            raise InvalidInput.on(f"{where}.field", f"Must be one of: {', '.join(FIELDS)}.")
    if kind == "ask":
        answer = step.get("answer", "text")
        if answer not in ANSWER_KINDS:
            raise InvalidInput.on(f"{where}.answer", f"Must be one of: {', '.join(ANSWER_KINDS)}.")
        clean["answer"] = answer
        clean["options"] = _options(step, where) if answer == "buttons" else []
        if answer == "buttons" and not clean["options"]:
            raise InvalidInput.on(f"{where}.options", "A question with buttons needs at least one button.")
        field = clean["field"]
        if field and answer not in FIELDS[field]:
            raise InvalidInput.on(f"{where}.field", f"{field} takes a {' or '.join(FIELDS[field])} answer.")
        for index, option in enumerate(clean["options"] if field else []):
            _readable(field, option["value"], f"{where}.options[{index}].value")
    if kind == "set":
        value = _text(step, "value", where, required=True, limit=200)
        clean["value"] = str(_readable(clean["field"], value, f"{where}.value"))
    if kind == "branch":
        rules = step.get("rules") or []
        if not isinstance(rules, list):
            raise InvalidInput.on(f"{where}.rules", "Give a list of rules.")
        clean["rules"] = [_clean_rule(rule, f"{where}.rules[{index}]") for index, rule in enumerate(rules)]
        clean["else"] = _text(step, "else", where, required=True, limit=60)
    if kind == "end":
        outcome = step.get("outcome", Outcome.THANK_YOU)
        if outcome not in Outcome.values:
            raise InvalidInput.on(f"{where}.outcome", f"Must be one of: {', '.join(Outcome.values)}.")
        nurture = step.get("nurture", False)
        if not isinstance(nurture, bool):
            raise InvalidInput.on(f"{where}.nurture", "Give true or false.")
        clean["outcome"], clean["nurture"] = outcome, nurture
    return clean


def _readable(field: str, value: str, where: str) -> Any:
    """The value as `field` holds it, or InvalidInput on `where`."""
    try:
        return read_field(field, value)
    except InvalidInput as error:
        raise InvalidInput.on(where, error.errors["answer"][0]) from None


def _clean_rule(rule: Any, where: str) -> dict[str, str]:
    if not isinstance(rule, dict):
        raise InvalidInput.on(where, "Give a rule as {answer, test, value, goto}.")
    test = rule.get("test", "equals")
    if test not in TESTS:
        raise InvalidInput.on(f"{where}.test", f"Must be one of: {', '.join(TESTS)}.")
    value = _text(rule, "value", where, required=True, limit=200)
    if test in ("at_least", "below") and _decimal(value) is None:
        raise InvalidInput.on(f"{where}.value", "Give a number to compare with.")
    return {
        "answer": _text(rule, "answer", where, required=True, limit=60),
        "test": test,
        "value": value,
        "goto": _text(rule, "goto", where, required=True, limit=60),
    }


def following(steps: list[dict[str, Any]], index: int) -> list[str]:
    """The ids of the steps the step at `index` may go to."""
    step = steps[index]
    if step["type"] == "end":
        return []
    if step["type"] == "branch":
        return [rule["goto"] for rule in step["rules"]] + [step["else"]]
    if step["next"]:
        return [step["next"]]
    return [steps[index + 1]["id"]] if index + 1 < len(steps) else []


def clean_steps(raw: Any) -> Checked:
    """The steps as they may be saved, or InvalidInput naming the first wrong one (`steps[2].next`): ids unique,
    every target a step of the script, the answers branched on asked before, a way to an end from every step, and
    no loop the bot could run round without asking. Steps no path reaches are allowed, with a warning."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput.on("steps", "A script needs at least one step.")
    if len(raw) > MAX_STEPS:
        raise InvalidInput.on("steps", f"A script has at most {MAX_STEPS} steps.")
    steps = [_clean_step(step, f"steps[{index}]") for index, step in enumerate(raw)]
    index_of: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step["id"] in index_of:
            raise InvalidInput.on(f"steps[{index}].id", f"Another step is already called {step['id']}.")
        index_of[step["id"]] = index
    asks = {step["id"] for step in steps if step["type"] == "ask"}
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if step["type"] not in ("branch", "end") and not following(steps, index):
            raise InvalidInput.on(f"{where}.next", "The last step must be an end, or name the step that follows.")
        for key in ("next", "else"):
            if step.get(key) and step[key] not in index_of:
                raise InvalidInput.on(f"{where}.{key}", f"No step is called {step[key]}.")
        for number, rule in enumerate(step.get("rules", [])):
            if rule["goto"] not in index_of:
                raise InvalidInput.on(f"{where}.rules[{number}].goto", f"No step is called {rule['goto']}.")
            if rule["answer"] not in asks:
                raise InvalidInput.on(f"{where}.rules[{number}].answer", f"No question is called {rule['answer']}.")
    if not any(step["type"] == "end" for step in steps):
        raise InvalidInput.on("steps", "A script needs at least one end step.")
    _refuse_silent_loops(steps, index_of)
    reached = _reachable(steps, index_of)
    warnings = [f"No path reaches step {step['id']}." for step in steps if step["id"] not in reached]
    return Checked(steps=steps, warnings=warnings)


def _reachable(steps: list[dict[str, Any]], index_of: dict[str, int]) -> set[str]:
    seen, todo = {steps[0]["id"]}, [0]
    while todo:
        for target in following(steps, todo.pop()):
            if target not in seen:
                seen.add(target)
                todo.append(index_of[target])
    return seen


def _refuse_silent_loops(steps: list[dict[str, Any]], index_of: dict[str, int]) -> None:
    """A cycle through say, set and branch steps alone would have the bot talk forever: refuse it."""
    state: dict[int, str] = {}

    def visit(index: int) -> None:
        state[index] = "open"
        for target in following(steps, index):
            nxt = index_of[target]
            if steps[nxt]["type"] in ("ask", "end"):
                continue
            if state.get(nxt) == "open":
                raise InvalidInput.on(f"steps[{nxt}]", f"Step {target} loops back without asking anything.")
            if nxt not in state:
                visit(nxt)
        state[index] = "done"

    for index, step in enumerate(steps):
        if index not in state and step["type"] not in ("ask", "end"):
            visit(index)


# --- the visitor's answers ----------------------------------------------------------------------------------------


def read_answer(step: dict[str, Any], text: Any) -> tuple[str, str, str]:
    """A typed answer to an `ask` step as (what the transcript shows, the value stored, the intent it shows), or
    InvalidInput on `answer` saying what is wrong with it."""
    if not isinstance(text, str):
        raise InvalidInput.on("answer", "Give the answer as text.")
    text = " ".join(text.replace("\x00", "").split())
    if not text:
        raise InvalidInput.on("answer", "Type an answer.")
    if len(text) > MAX_ANSWER:
        raise InvalidInput.on("answer", f"At most {MAX_ANSWER} characters, please.")
    kind = step["answer"]
    if kind == "buttons":
        for option in step["options"]:
            if text.lower() in (option["label"].lower(), option["value"].lower()):
                return option["label"], option["value"], option["intent"]
        labels = ", ".join(option["label"] for option in step["options"])
        raise InvalidInput.on("answer", f"Choose one of: {labels}.")
    if kind == "email":
        try:
            validate_email(text)
        except ValidationError:
            raise InvalidInput.on("answer", "That does not look like an email address (name@example.com).") from None
        return text, text.lower(), ""
    if kind == "phone":
        if phone_key(text) is None:
            raise InvalidInput.on("answer", "That does not look like a phone number: give it with its area code.")
        return text, text, ""
    if kind == "number":
        return text, str(_number(text)), ""
    if kind == "date":
        return text, _date(text).isoformat(), ""
    return text, text, ""


def _number(text: str) -> Decimal:
    cleaned = text.replace(",", "").replace(" ", "").lstrip("$€£").lower()
    factor = 1
    if cleaned.endswith("k"):
        cleaned, factor = cleaned[:-1], 1000
    elif cleaned.endswith("m"):
        cleaned, factor = cleaned[:-1], 1_000_000
    number = _decimal(cleaned)
    if number is None:
        raise InvalidInput.on("answer", "Give a number, such as 25000 or 25k.")
    if number < 0:
        raise InvalidInput.on("answer", "Give an amount of zero or more.")
    if number >= Decimal(10) ** 12 / factor:
        raise InvalidInput.on("answer", "That number is too large.")
    return (number * factor).quantize(Decimal("0.01"))


def _decimal(text: str) -> Decimal | None:
    """The finite number the text writes, or None."""
    try:
        number = Decimal(text)
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _date(text: str) -> date:
    try:
        day = parse_date(text)
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput.on("answer", "Give a date as YYYY-MM-DD, such as 2027-03-31.")
    return day


def read_field(field: str, value: str) -> Any:
    """A stored answer as the field it sets holds it (a Decimal budget, a date, an Authority value, a bool)."""
    if field == "budget_amount":
        return _number(value)
    if field == "timing_target_date":
        return _date(value)
    if field == "budget_confirmed":
        if value.lower() in YES:
            return True
        if value.lower() in NO:
            return False
        raise InvalidInput.on("answer", "Give yes or no.")
    if field == "authority":
        by_label = {label.lower(): choice for choice, label in Authority.choices}
        choice = by_label.get(value.lower(), value.lower().replace(" ", "_"))
        return choice if choice in Authority.values else Authority.UNKNOWN
    if field == "company_size":
        by_label = {label.lower(): band for band, label in EmployeeBand.choices}
        return by_label.get(value.lower(), value)[:60]
    if field == "email":
        return value.lower()
    return value[:200] if field != "need" else value


def holds(rule: dict[str, str], answer: str | None) -> bool:
    """Whether a branch rule holds for the stored answer it names (None: not answered)."""
    if answer is None:
        return False
    test, value = rule["test"], rule["value"]
    if test == "equals":
        return answer.lower() == value.lower()
    if test == "contains":
        return value.lower() in answer.lower()
    number, bound = _decimal(answer), _decimal(value)
    if number is None or bound is None:
        return False
    return number >= bound if test == "at_least" else number < bound
