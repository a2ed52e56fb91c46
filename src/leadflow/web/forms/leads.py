"""Forms of the lead pages: the list's filters, a new lead, BANT answers, lifecycle moves, bulk edits, conversion."""

from django import forms

from leadflow.accounts.models import Seniority
from leadflow.leads.models import Authority, LeadSource, LifecycleStage
from leadflow.nurture.models import Segment

from .common import _blank


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
