"""Forms of nurture: the segment builder, email templates, sequences, enrolment and each kind of step."""

from collections.abc import Mapping
from typing import Any

from django import forms

from leadflow.engagement.models import EventType
from leadflow.leads.models import LifecycleStage
from leadflow.nurture.condition_rows import operators_for, segment_conditions, typed_value, yes_or_no
from leadflow.nurture.models import EmailTemplate, ExitWhen, Segment, Step, StepKind
from leadflow.nurture.segments import CHOICES as SEGMENT_CHOICES
from leadflow.nurture.services import UPDATABLE_FIELDS

from .common import _blank
from .qualification import WEEKDAY_CHOICES

SEGMENT_FIELDS = {
    "lifecycle_stage": "Lifecycle stage", "source": "Source", "seniority": "Seniority", "industry": "Industry",
    "employee_band": "Employees", "region": "Region", "country": "Country", "job_title": "Job title",
    "role_function": "Role / function", "email": "Email address", "score": "Score", "fit": "Fit points",
    "icp_match": "ICP match %", "email_opt_in": "Opted in to email", "inactive_days": "No activity for (days)",
    "created_days": "Captured within (days)", "event": "Did (an event)",
}  # fmt: skip


SEGMENT_OPS = {
    "in": "is one of", "not_in": "is none of", "contains": "contains", "gte": "at least", "lte": "at most",
    "is": "is", "at_least": "at least (times)", "none": "never",
}  # fmt: skip


CONDITION_KEYS = ("field", "op", "value", "type", "within_days", "property", "contains")


def _as_text(value: object) -> str:
    """A condition's value as the builder shows it: lists with commas, booleans as yes or no."""
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


class SegmentForm(forms.Form):
    """A segment and its condition rows; row i's fields are named as `clean_conditions` names them in its errors
    (`conditions[i].value`), so a refusal lands on its row. Each value is typed text, made into what the
    condition takes by `conditions()`."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(max_length=500, required=False)
    match = forms.ChoiceField(choices=[("all", "All conditions"), ("any", "Any condition")], label="Leads that meet")

    def __init__(self, *args, rows: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        source = self.data if self.is_bound else self.initial
        self.row_count = rows
        for index in range(rows):
            name = f"conditions[{index}]"
            field = source.get(f"{name}.field") or "lifecycle_stage"
            self.fields[f"{name}.field"] = forms.ChoiceField(choices=list(SEGMENT_FIELDS.items()), label="Field")
            self.fields[f"{name}.op"] = forms.ChoiceField(
                choices=[(op, SEGMENT_OPS[op]) for op in operators_for(field)], label="Condition"
            )
            self.fields[f"{name}.value"] = forms.CharField(required=False, label="Value", help_text=_value_help(field))
            self.fields[f"{name}.type"] = forms.ChoiceField(choices=_blank("—") + EventType.choices, required=False)
            self.fields[f"{name}.within_days"] = forms.CharField(required=False, label="within (days)")
            self.fields[f"{name}.property"] = forms.CharField(required=False, label="where property")
            self.fields[f"{name}.contains"] = forms.CharField(required=False, label="contains")

    @staticmethod
    def rows_in(data: Mapping[str, Any]) -> list[dict[str, str]]:
        """The posted condition rows, as texts (a row whose field changed gets that field's first operator)."""
        rows: list[dict[str, str]] = []
        while f"conditions[{len(rows)}].field" in data:
            row = {key: data.get(f"conditions[{len(rows)}].{key}", "") for key in CONDITION_KEYS}
            if row["op"] not in operators_for(row["field"]):
                row["op"] = operators_for(row["field"])[0]
            rows.append(row)
        return rows

    @staticmethod
    def initial_for(name: str, description: str, match: str, rows: list[dict]) -> dict:
        initial = {"name": name, "description": description, "match": match}
        for index, row in enumerate(rows):
            for key in CONDITION_KEYS:
                initial[f"conditions[{index}].{key}"] = _as_text(row.get(key))
        return initial

    def condition_rows(self) -> list[dict]:
        """Per row: its number, whether it is about events, and its bound fields by key."""
        rows = []
        for index in range(self.row_count):
            fields = {key: self[f"conditions[{index}].{key}"] for key in CONDITION_KEYS}
            rows.append({"index": index, "is_event": fields["field"].value() == "event", **fields})
        return rows

    def conditions(self) -> list[dict]:
        """The rows as `save_segment` takes them."""
        return segment_conditions(self.rows_in(self.data))


def _value_help(field: str) -> str:
    allowed = SEGMENT_CHOICES.get(field, ("", None))[1]
    if allowed:
        return f"One or more, separated by commas: {', '.join(allowed)}"
    if field in SEGMENT_CHOICES:
        return "One or more, separated by commas"
    return {"email_opt_in": "yes or no", "event": "How many times"}.get(field, "")


class EmailTemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    subject = forms.CharField(max_length=300, help_text="Merge fields work here too")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "class": "code"}), label="HTML body")


class TemplatePreviewForm(forms.Form):
    lead = forms.IntegerField(required=False, min_value=1, label="Lead id")
    segment = forms.ModelChoiceField(Segment.objects.all(), required=False, label="… or the first lead of")


class SequenceForm(forms.Form):
    """A sequence's settings, named as `save_sequence` takes them."""

    name = forms.CharField(max_length=200)
    segment = forms.ModelChoiceField(
        Segment.objects.all(), required=False, label="Audience", help_text="Its leads are enrolled as they enter it"
    )
    exit_when = forms.MultipleChoiceField(
        choices=ExitWhen.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Exit when the lead"
    )
    allow_reentry = forms.BooleanField(required=False, label="Let a lead go through it again")
    reentry_after_days = forms.IntegerField(required=False, min_value=0, label="… after (days)")


class EnrolForm(forms.Form):
    lead_ids = forms.CharField(label="Lead ids", help_text="Separated by commas or spaces")

    def clean_lead_ids(self) -> list[int]:
        parts = self.cleaned_data["lead_ids"].replace(",", " ").split()
        if not all(part.isdigit() for part in parts):
            raise forms.ValidationError("Give lead ids: whole numbers.")
        return [int(part) for part in parts]


class StepForm(forms.Form):
    """One kind of step; `step_fields()` is what `add_step` takes. Its fields are named after the keys `add_step`
    names in its errors (`template_id`; `days` for `config.days`), so a refusal lands on its field."""

    kind: str

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", f"id_{self.kind}_%s")  # several step forms share a page
        super().__init__(*args, **kwargs)

    def config(self, data: dict) -> dict:
        return {}

    def step_fields(self) -> dict:
        return {"kind": self.kind, "config": self.config(self.cleaned_data)}


class EmailStepForm(StepForm):
    kind = StepKind.EMAIL
    template_id = forms.ModelChoiceField(EmailTemplate.objects.all(), required=False, label="Template")
    variant_template_id = forms.ModelChoiceField(
        EmailTemplate.objects.all(), required=False, label="B variant", help_text="Optional: an A/B test"
    )
    test_metric = forms.ChoiceField(choices=dict(Step._meta.get_field("test_metric").flatchoices), label="Test on")
    test_deadline = forms.DateTimeField(
        required=False, label="Decide by", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def step_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": self.kind, "template": data["template_id"], "variant_template": data["variant_template_id"],
            "test_metric": data["test_metric"], "test_deadline": data["test_deadline"],
        }  # fmt: skip


class WaitStepForm(StepForm):
    kind = StepKind.WAIT
    days = forms.IntegerField(required=False, min_value=0, label="Days")
    hours = forms.IntegerField(required=False, min_value=0, label="Hours")
    weekday = forms.TypedChoiceField(
        coerce=int, choices=[("", "—"), *WEEKDAY_CHOICES], required=False, empty_value=None, label="… or until"
    )
    hour = forms.IntegerField(required=False, min_value=0, max_value=23, initial=9, label="at hour")

    def config(self, data: dict) -> dict:
        if data["weekday"] is not None:
            return {"weekday": data["weekday"], "hour": 9 if data["hour"] is None else data["hour"]}
        return {unit: data[unit] for unit in ("days", "hours") if data[unit]}


class BranchStepForm(StepForm):
    kind = StepKind.BRANCH
    condition = forms.ChoiceField(
        choices=[
            ("opened", "opened an email of this sequence"), ("clicked", "clicked an email of this sequence"),
            ("visited", "visited a page"), ("score_above", "scores above"), ("field_equals", "has a field equal to"),
        ],
        label="If the lead",
    )  # fmt: skip
    page = forms.CharField(required=False, label="Page contains", help_text="Visited: empty for any page")
    within_days = forms.IntegerField(required=False, min_value=1, label="Visited within (days)")
    field = forms.ChoiceField(choices=_blank("—") + [(f, f) for f in ("source", "lifecycle_stage", "authority")],
                              required=False, label="Field")  # fmt: skip
    value = forms.CharField(required=False, label="Value", help_text="Score above, or the field's value")
    else_go_to = forms.IntegerField(label="Otherwise go to step")

    def config(self, data: dict) -> dict:
        condition: dict = {"kind": data["condition"]}
        if data["condition"] == "visited":
            condition.update(page=data["page"], within_days=data["within_days"] or 30)
        elif data["condition"] == "score_above":
            condition["value"] = typed_value(data["value"])
        elif data["condition"] == "field_equals":
            condition.update(field=data["field"], value=data["value"])
        return {"if": condition, "else_go_to": data["else_go_to"]}


class UpdateFieldStepForm(StepForm):
    kind = StepKind.UPDATE_FIELD
    field = forms.ChoiceField(choices=[(name, name) for name in UPDATABLE_FIELDS], label="Field")
    value = forms.CharField(required=False, label="Value", help_text="budget_confirmed: yes or no")

    def config(self, data: dict) -> dict:
        typed = yes_or_no(data["value"]) if UPDATABLE_FIELDS[data["field"]] is bool else data["value"]
        return {"field": data["field"], "value": typed}


class SetStageStepForm(StepForm):
    kind = StepKind.SET_STAGE
    stage = forms.ChoiceField(
        choices=[(s, LifecycleStage(s).label) for s in ("lead", "prospect", "recycled")], label="Stage"
    )
    reason = forms.CharField(required=False, max_length=200, label="Reason", help_text="Recorded on the stage change")

    def config(self, data: dict) -> dict:
        return {"stage": data["stage"], **({"reason": data["reason"]} if data["reason"] else {})}


class CreateTaskStepForm(StepForm):
    kind = StepKind.CREATE_TASK
    subject = forms.CharField(max_length=200, label="Task")
    due_days = forms.IntegerField(min_value=0, initial=1, label="Due in (days)")

    def config(self, data: dict) -> dict:
        return {"subject": data["subject"], "due_days": data["due_days"]}


class NotifyStepForm(StepForm):
    kind = StepKind.NOTIFY
    text = forms.CharField(max_length=300, label="Message to the owner")

    def config(self, data: dict) -> dict:
        return {"text": data["text"]}


STEP_FORMS: dict[str, type[StepForm]] = {
    form.kind: form
    for form in (EmailStepForm, WaitStepForm, BranchStepForm, UpdateFieldStepForm, SetStageStepForm,
                 CreateTaskStepForm, NotifyStepForm)
}  # fmt: skip
