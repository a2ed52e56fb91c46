"""Forms of the chat script builder: the script's settings, and its steps as rows of a formset (options and
branch rules written one a line)."""

from typing import Any

from django import forms

from leadflow.chat.models import ChatScript, Outcome
from leadflow.chat.script import ANSWER_KINDS, FIELDS, STEP_TYPES, TESTS


def _choices(values: tuple[str, ...] | list[str], blank: str = "") -> list[tuple[str, str]]:
    return ([("", blank)] if blank else []) + [(value, value.replace("_", " ")) for value in values]


class ScriptSettingsForm(forms.ModelForm):
    class Meta:
        model = ChatScript
        fields = ["name", "title", "site", "pages", "lead_source", "sequence", "notify", "is_active"]
        widgets = {"pages": forms.Textarea(attrs={"rows": 2, "placeholder": "/pricing"})}
        labels = {"title": "Heading in the widget", "notify": "Tell", "sequence": "Nurture sequence"}


class NewScriptForm(forms.Form):
    name = forms.CharField(max_length=200)


class StepRowForm(forms.Form):
    id = forms.CharField(max_length=60, required=False, label="Step id")
    type = forms.ChoiceField(choices=_choices(STEP_TYPES), initial="say")
    text = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    answer = forms.ChoiceField(choices=_choices(ANSWER_KINDS, "—"), required=False, label="Answer kind")
    options = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Book a demo | demo | demo"}),
        help_text="Buttons, one a line: label | value | intent (demo or pricing)",
    )  # fmt: skip
    field = forms.ChoiceField(choices=_choices(list(FIELDS), "—"), required=False, label="Sets field")
    value = forms.CharField(max_length=200, required=False, help_text="For set: the value")
    next = forms.CharField(max_length=60, required=False, help_text="Empty: the step below")
    rules = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "placeholder": "has_budget equals no -> no_budget"}),
        help_text=f"For branch, one a line: question test value -> step ({', '.join(TESTS)})",
    )  # fmt: skip
    else_step = forms.CharField(max_length=60, required=False, label="Else", help_text="For branch")
    outcome = forms.ChoiceField(choices=_choices(Outcome.values, "—"), required=False)
    nurture = forms.BooleanField(required=False, help_text="For end: nurture a lead not handed to sales")

    def clean_options(self) -> list[dict[str, str]]:
        options = []
        for line in self.cleaned_data["options"].splitlines():
            if line.strip():
                label, value, intent = [*(part.strip() for part in line.split("|")), "", ""][:3]
                options.append({"label": label, "value": value, "intent": intent})
        return options

    def clean_rules(self) -> list[dict[str, str]]:
        rules = []
        for line in self.cleaned_data["rules"].splitlines():
            if not line.strip():
                continue
            condition, arrow, goto = line.rpartition("->")
            parts = condition.split(maxsplit=2)
            if not arrow or len(parts) < 3:
                raise forms.ValidationError(f"Write “{line.strip()}” as: question test value -> step.")
            rules.append({"answer": parts[0], "test": parts[1], "value": parts[2].strip(), "goto": goto.strip()})
        return rules

    def step(self) -> dict[str, Any]:
        """The row as a script step."""
        data = self.cleaned_data
        step: dict[str, Any] = {"id": data["id"], "type": data["type"], "text": data["text"], "next": data["next"]}
        if data["type"] == "ask":
            step.update(answer=data["answer"] or "text", options=data["options"], field=data["field"])
        elif data["type"] == "set":
            step.update(field=data["field"], value=data["value"])
        elif data["type"] == "branch":
            step.update(rules=data["rules"], **{"else": data["else_step"]})
        elif data["type"] == "end":
            step.update(outcome=data["outcome"] or Outcome.THANK_YOU, nurture=data["nurture"])
        return step


StepRows = forms.formset_factory(StepRowForm, extra=1, max_num=100, can_delete=True)


def _option_line(option: dict[str, str]) -> str:
    parts = [option["label"], option["value"], option["intent"]]
    while len(parts) > 1 and (not parts[-1] or (len(parts) == 2 and parts[1] == parts[0])):
        parts.pop()
    return " | ".join(parts)


def step_initial(step: dict[str, Any]) -> dict[str, Any]:
    """A saved step as the initial values of its row."""
    rules = "\n".join(f"{r['answer']} {r['test']} {r['value']} -> {r['goto']}" for r in step.get("rules", []))
    options = "\n".join(_option_line(option) for option in step.get("options", []))
    return {**step, "options": options, "rules": rules, "else_step": step.get("else", "")}
