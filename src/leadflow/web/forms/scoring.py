"""Forms of the scoring page: fit and engagement rules, the threshold."""

from django import forms

from leadflow.engagement.models import EventType
from leadflow.scoring.models import Matcher, RuleKind
from leadflow.scoring.rules import FIT_FIELDS


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
