"""Forms of the qualification settings: checklists, intent and assignment rules, SLAs."""

from django import forms

from leadflow.accounts.models import EmployeeBand
from leadflow.leads.models import LeadSource
from leadflow.qualification.models import AssignmentRule, Criterion, Distribution, QualificationCriterion
from leadflow.users.models import Role, Team, User

from .scoring import EventMatchForm

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
