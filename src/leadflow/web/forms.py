"""Forms: they turn request data into typed values; the services decide what is allowed."""

from collections.abc import Mapping
from typing import Any

from django import forms

from leadflow.accounts.models import EmployeeBand, Seniority
from leadflow.engagement.models import EventType
from leadflow.errors import DomainError
from leadflow.leads.models import Authority, LeadSource, LifecycleStage
from leadflow.nurture.models import EmailTemplate, ExitWhen, Segment, Step, StepKind
from leadflow.nurture.segments import CHOICES as SEGMENT_CHOICES
from leadflow.nurture.segments import NUMBERS as SEGMENT_NUMBERS
from leadflow.nurture.segments import TEXTS as SEGMENT_TEXTS
from leadflow.nurture.services import UPDATABLE_FIELDS
from leadflow.pipeline.models import ActivityKind, LostReason
from leadflow.qualification.models import AssignmentRule, Criterion, Distribution, QualificationCriterion
from leadflow.scoring.models import Matcher, RuleKind
from leadflow.scoring.rules import FIT_FIELDS
from leadflow.users.models import Role, Team, User


def add_domain_errors(form: forms.Form, error: DomainError) -> None:
    """Show a service's refusal on the form: on the fields it names, else above the form."""
    placed = False
    for field, messages in error.errors.items():
        # `config.days` lands on a field named `days` when the form has no `config.days`.
        names = (field, f"{field}_id", field.rpartition(".")[2])
        target = next((name for name in names if name in form.fields), None)
        for message in messages:
            form.add_error(target, message)
            placed = placed or target is not None
    if not placed:
        form.add_error(None, error.detail)


def error_summary(form: forms.Form) -> str:
    """All of a form's errors on one line, each with its field: for plain-text answers and flash messages."""
    return "; ".join(f"{field}: {' '.join(str(e) for e in errors)}" for field, errors in form.errors.items())


def _blank(label: str) -> list[tuple[str, str]]:
    return [("", label)]


class LeadFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    stage = forms.ChoiceField(choices=_blank("Any stage") + LifecycleStage.choices, required=False, label="Stage")
    source = forms.ChoiceField(choices=_blank("Any source") + LeadSource.choices, required=False, label="Source")
    owner = forms.CharField(required=False, label="Owner")
    created_from = forms.DateField(required=False, label="Created from", widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, label="Created to", widget=forms.DateInput(attrs={"type": "date"}))
    deal = forms.ChoiceField(
        choices=[("", "Any"), ("open", "Has an open deal"), ("none", "No open deal")], required=False, label="Deal"
    )
    sort = forms.ChoiceField(
        choices=[
            ("-created_at", "Newest"),
            ("-score", "Best score"),
            ("created_at", "Oldest"),
            ("-last_activity_at", "Recent activity"),
            ("last_activity_at", "Least recent activity"),
        ],
        required=False,
        label="Sort",
    )

    segment = forms.ModelChoiceField(queryset=Segment.objects.all(), required=False, empty_label="Any", label="Segment")

    def __init__(self, *args, owners: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"] = forms.ChoiceField(
            choices=[("", "Anyone"), ("me", "Me"), ("none", "Unassigned"), *owners], required=False, label="Owner"
        )


class LeadForm(forms.Form):
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    email = forms.CharField(max_length=254, required=False, help_text="Work email; a known email reuses its contact.")
    phone = forms.CharField(max_length=50, required=False)
    job_title = forms.CharField(max_length=200, required=False)
    seniority = forms.ChoiceField(choices=_blank("—") + Seniority.choices, required=False)
    company_name = forms.CharField(max_length=200, required=False, label="Company")
    source = forms.ChoiceField(choices=LeadSource.choices, initial=LeadSource.INBOUND_MARKETING)
    source_detail = forms.CharField(max_length=200, required=False, label="Source detail")
    need = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Need / pain points")


class BantForm(forms.Form):
    budget_amount = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2, label="Budget")
    budget_confirmed = forms.BooleanField(required=False, label="Budget confirmed")
    authority = forms.ChoiceField(choices=Authority.choices)
    need = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Need / pain points")
    timing_target_date = forms.DateField(
        required=False, label="Target date", widget=forms.DateInput(attrs={"type": "date"})
    )


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=LifecycleStage.choices)
    reason = forms.CharField(max_length=500, required=False)


class BulkForm(forms.Form):
    lead_ids = forms.TypedMultipleChoiceField(coerce=int, choices=[], label="Leads")
    action = forms.ChoiceField(choices=[("assign", "Assign"), ("transition", "Move")])
    owner = forms.CharField(required=False)
    to = forms.ChoiceField(choices=_blank("—") + LifecycleStage.choices, required=False)
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lead_ids"].choices = [(v, v) for v in self.data.getlist("lead_ids")]  # type: ignore[attr-defined]


class ConvertForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label="Opportunity name")
    amount = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2)
    expected_close_date = forms.DateField(
        required=False, label="Expected close", widget=forms.DateInput(attrs={"type": "date"})
    )


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(choices=ActivityKind.choices, initial=ActivityKind.CALL)
    subject = forms.CharField(max_length=200)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Notes")
    outcome = forms.CharField(max_length=100, required=False)
    due_at = forms.DateTimeField(
        required=False, label="Due (tasks)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


class QuickLogForm(forms.Form):
    lead = forms.IntegerField(widget=forms.Select, label="Lead")
    kind = forms.ChoiceField(choices=[("call", "Call"), ("email", "Email")])
    subject = forms.CharField(max_length=200)
    outcome = forms.CharField(max_length=100, required=False)


class MoveForm(forms.Form):
    stage = forms.IntegerField()


class CloseForm(forms.Form):
    won = forms.TypedChoiceField(choices=[("1", "Won"), ("0", "Lost")], coerce=lambda v: v == "1")
    lost_reason = forms.ModelChoiceField(LostReason.objects.filter(is_active=True), required=False)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Review note")


class NoteForm(forms.Form):
    review_note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="What did we learn from this deal?"
    )


class StageForm(forms.Form):
    name = forms.CharField(max_length=100)
    probability = forms.IntegerField(min_value=0, max_value=100)


class NewStageForm(StageForm):
    kind = forms.ChoiceField(choices=[("open", "Open"), ("won", "Won"), ("lost", "Lost")], initial="open")


class NameForm(forms.Form):
    name = forms.CharField(max_length=100)


class UserForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    team = forms.ModelChoiceField(Team.objects.all(), required=False)
    is_active = forms.BooleanField(required=False, label="Active")


class NewUserForm(forms.Form):
    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.SALES)
    team = forms.ModelChoiceField(Team.objects.all(), required=False)


class ScoringRuleForm(forms.Form):
    """A fit or an engagement rule as the scoring page takes it; the scoring service checks the rest."""

    name = forms.CharField(max_length=200)
    points = forms.IntegerField(min_value=-1000, max_value=1000, help_text="Negative for a disqualifier")

    def rule_fields(self) -> dict:
        return dict(self.cleaned_data)


class FitRuleForm(ScoringRuleForm):
    field = forms.ChoiceField(choices=[(name, f.label) for name, f in FIT_FIELDS.items()], label="Field")
    matcher = forms.ChoiceField(choices=Matcher.choices, label="Condition")
    value = forms.CharField(required=False, label="Value", help_text="Several values: separate them with commas")
    in_icp = forms.BooleanField(required=False, label="Part of the ideal customer profile")

    def rule_fields(self) -> dict:
        fields = {**self.cleaned_data, "kind": RuleKind.FIT}
        text = fields.pop("value").strip()
        matcher = fields["matcher"]
        if matcher in (Matcher.AT_LEAST, Matcher.BELOW):
            try:
                fields["value"] = float(text)
            except ValueError:
                fields["value"] = text  # the service names the field
        elif matcher in (Matcher.IS_TRUE, Matcher.IS_FALSE):
            fields["value"] = None
        elif matcher == Matcher.EQUALS:
            fields["value"] = text
        else:
            fields["value"] = [part.strip() for part in text.split(",") if part.strip()]
        return fields


class EventMatchForm(forms.Form):
    """Which events a rule looks at: one type, optionally only those whose property contains a text."""

    event_type = forms.ChoiceField(choices=EventType.choices, label="Event")
    property_name = forms.CharField(required=False, max_length=100, label="Only where property")
    property_contains = forms.CharField(required=False, max_length=200, label="contains")


class EngagementRuleForm(EventMatchForm, ScoringRuleForm):
    cap = forms.IntegerField(required=False, min_value=1, label="At most (points)")
    half_life_days = forms.FloatField(required=False, min_value=0.1, label="Halves every (days)")

    def rule_fields(self) -> dict:
        return {**self.cleaned_data, "kind": RuleKind.ENGAGEMENT}


class ThresholdForm(forms.Form):
    mql_threshold = forms.IntegerField(min_value=1, max_value=10000, label="MQL threshold")


# --- qualification -------------------------------------------------------------------------------------------------

THRESHOLD_LABELS: dict[str, str] = {
    Criterion.BUDGET: "least amount",
    Criterion.TIMING: "days ahead at most",
    Criterion.ICP_FIT: "% ICP match at least",
}
CRITERION_FLAGS = ("is_active", "required_to_accept", "required_to_convert")


class CriteriaForm(forms.Form):
    """A pipeline's checklist, one row per criterion; fields are named as `save_criteria` names them in its errors
    (`criteria[<i>].threshold`), so a refusal lands on its row."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for index, kind in enumerate(Criterion.values):
            for flag in CRITERION_FLAGS:
                self.fields[f"criteria[{index}].{flag}"] = forms.BooleanField(required=False)
            if kind in THRESHOLD_LABELS:
                self.fields[f"criteria[{index}].threshold"] = forms.IntegerField(
                    required=False, label=THRESHOLD_LABELS[kind]
                )

    @staticmethod
    def initial_for(criteria: list[QualificationCriterion]) -> dict:
        initial = {}
        for index, criterion in enumerate(criteria):
            for flag in CRITERION_FLAGS:
                initial[f"criteria[{index}].{flag}"] = getattr(criterion, flag)
            initial[f"criteria[{index}].threshold"] = criterion.threshold
        return initial

    def rows(self) -> list[dict]:
        """Per criterion: its label and its bound fields (no threshold for authority and need)."""
        rows = []
        for index, (kind, label) in enumerate(Criterion.choices):
            row = {"label": label, **{flag: self[f"criteria[{index}].{flag}"] for flag in CRITERION_FLAGS}}
            row["threshold"] = self[f"criteria[{index}].threshold"] if kind in THRESHOLD_LABELS else None
            rows.append(row)
        return rows

    def items(self) -> list[dict]:
        """The checklist as `save_criteria` takes it."""
        items = []
        for index, kind in enumerate(Criterion.values):
            item = {"kind": kind, **{flag: self.cleaned_data[f"criteria[{index}].{flag}"] for flag in CRITERION_FLAGS}}
            if kind in THRESHOLD_LABELS:
                item["threshold"] = self.cleaned_data[f"criteria[{index}].threshold"]
            items.append(item)
        return items


class IntentRuleForm(EventMatchForm):
    field_order = ["name"]

    name = forms.CharField(max_length=200)


class AssignmentRuleForm(forms.Form):
    """An assignment rule; for a weighted team rule, a weight per team member (fields `weights.<user id>`, as the
    service names them in its errors)."""

    name = forms.CharField(max_length=200)
    user = forms.ModelChoiceField(
        User.objects.filter(is_active=True).exclude(role=Role.MARKETING), required=False, label="Assign to a person"
    )
    team = forms.ModelChoiceField(Team.objects.all(), required=False, label="… or share among a team's reps")
    distribution = forms.ChoiceField(choices=Distribution.choices, label="Sharing")
    max_open_leads = forms.IntegerField(required=False, label="Cap: open leads per rep")
    min_score = forms.IntegerField(required=False, label="Score at least")
    regions = forms.CharField(required=False, help_text="Separate with commas; empty matches any")
    industries = forms.CharField(required=False, help_text="Separate with commas; empty matches any")
    employee_bands = forms.MultipleChoiceField(
        choices=EmployeeBand.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Employees"
    )
    sources = forms.MultipleChoiceField(
        choices=LeadSource.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Sources"
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args, rule: AssignmentRule | None = None, **kwargs) -> None:
        if rule is not None and not args:
            kwargs.setdefault("initial", self.initial_for(rule))
        super().__init__(*args, **kwargs)
        if rule is not None and rule.team_id is not None and rule.distribution == Distribution.WEIGHTED:
            weights = {share.user_id: share.weight for share in rule.weights.all()}
            members = User.objects.filter(team=rule.team_id, role=Role.SALES, is_active=True).order_by("id")
            for member in members:
                self.fields[f"weights.{member.pk}"] = forms.IntegerField(
                    label=f"Weight of {member}", initial=weights.get(member.pk, 1)
                )

    @staticmethod
    def initial_for(rule: AssignmentRule) -> dict:
        return {
            **{name: getattr(rule, name) for name in ("name", "distribution", "max_open_leads", "min_score")},
            **{name: getattr(rule, name) for name in ("employee_bands", "sources", "is_active")},
            "user": rule.user_id,
            "team": rule.team_id,
            "regions": ", ".join(rule.regions),
            "industries": ", ".join(rule.industries),
        }

    def fields_but_weights(self) -> list:
        return [self[name] for name in self.fields if not name.startswith("weights.")]

    def weight_fields(self) -> list:
        return [self[name] for name in self.fields if name.startswith("weights.")]

    def rule_fields(self) -> dict:
        """The rule as the assignment-rule services take it."""
        data = dict(self.cleaned_data)
        weights = {name.removeprefix("weights."): data.pop(name) for name in list(data) if name.startswith("weights.")}
        return {**data, "weights": weights} if weights else data


WEEKDAY_CHOICES = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class SlaSettingsForm(forms.Form):
    hot_score = forms.IntegerField(label="Hot from score", help_text="A lead arriving with this score or more")
    hot_first_touch_hours = forms.FloatField(label="First touch, hot leads", help_text="Business hours")
    first_touch_hours = forms.FloatField(label="First touch, other leads", help_text="Business hours")
    decision_hours = forms.FloatField(label="Accept or reject within", help_text="Business hours")
    day_starts = forms.IntegerField(label="Business day starts", help_text="Hour, 0–23")
    day_ends = forms.IntegerField(label="Business day ends", help_text="Hour, 1–24")
    business_days = forms.TypedMultipleChoiceField(
        coerce=int, choices=WEEKDAY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, label="Business days"
    )
    time_zone = forms.CharField(max_length=64, label="Time zone", help_text="e.g. Europe/Berlin")
    reassign_on_breach = forms.BooleanField(required=False, label="Reassign a lead whose first touch was missed")


# --- nurture ------------------------------------------------------------------------------------------------------

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
YES, NO = ("yes", "true", "1"), ("no", "false", "0")


def _ops_for(field: str) -> list[str]:
    """The operators a condition on this field takes (see nurture.segments)."""
    if field in SEGMENT_CHOICES:
        return ["in", "not_in"]
    if field in SEGMENT_TEXTS:
        return ["contains"]
    if field in SEGMENT_NUMBERS:
        return ["gte", "lte"]
    return {"email_opt_in": ["is"], "inactive_days": ["gte"], "created_days": ["lte"]}.get(field, ["at_least", "none"])


def _typed(text: str) -> object:
    """A number when the text is one, else the text (the service says what it should have been)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _as_text(value: object) -> str:
    """A condition's value as the builder shows it: lists with commas, booleans as yes or no."""
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _yes_no(text: str) -> object:
    word = text.strip().lower()
    return True if word in YES else False if word in NO else text


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
                choices=[(op, SEGMENT_OPS[op]) for op in _ops_for(field)], label="Condition"
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
            if row["op"] not in _ops_for(row["field"]):
                row["op"] = _ops_for(row["field"])[0]
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


def segment_conditions(rows: list[dict[str, str]]) -> list[dict]:
    """Condition rows as texts (`SegmentForm.rows_in`) made into conditions as `clean_conditions` takes them."""
    return [_condition(row) for row in rows]


def _condition(row: dict[str, str]) -> dict:
    field, value = row["field"], row["value"].strip()
    condition: dict = {"field": field, "op": row["op"]}
    if field in SEGMENT_CHOICES:
        condition["value"] = [part.strip() for part in value.split(",") if part.strip()]
    elif field in SEGMENT_TEXTS:
        condition["value"] = value
    elif field == "email_opt_in":
        condition["value"] = _yes_no(value)
    elif field != "event" or row["op"] != "none":
        condition["value"] = _typed(value)
    if field == "event":
        condition["type"] = row["type"]
        if row["within_days"].strip():
            condition["within_days"] = _typed(row["within_days"].strip())
        if row["property"].strip() or row["contains"].strip():
            condition.update(property=row["property"].strip(), contains=row["contains"].strip())
    return condition


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
            condition["value"] = _typed(data["value"])
        elif data["condition"] == "field_equals":
            condition.update(field=data["field"], value=data["value"])
        return {"if": condition, "else_go_to": data["else_go_to"]}


class UpdateFieldStepForm(StepForm):
    kind = StepKind.UPDATE_FIELD
    field = forms.ChoiceField(choices=[(name, name) for name in UPDATABLE_FIELDS], label="Field")
    value = forms.CharField(required=False, label="Value", help_text="budget_confirmed: yes or no")

    def config(self, data: dict) -> dict:
        typed = _yes_no(data["value"]) if UPDATABLE_FIELDS[data["field"]] is bool else data["value"]
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
