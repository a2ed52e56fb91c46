"""Forms of the Capture section: the form builder (settings and a row per field) and lead-ads sources."""

from typing import Any, cast

from django import forms

from leadflow.capture.models import FieldKind, Form, Target, WebhookSource
from leadflow.nurture.models import Sequence
from leadflow.users.models import User


class FormSettingsForm(forms.ModelForm):
    redirect_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Send the visitor here instead of showing the message"
    )

    class Meta:
        model = Form
        fields = [
            "name", "slug", "title", "intro", "submit_label", "consent_wording", "consent_required", "double_opt_in",
            "thank_you_message", "redirect_url", "allowed_origins", "lead_source", "is_explicit_intent", "sequence",
            "notify", "is_active",
        ]  # fmt: skip
        widgets = {
            "intro": forms.Textarea(attrs={"rows": 2}),
            "consent_wording": forms.Textarea(attrs={"rows": 2}),
            "thank_you_message": forms.Textarea(attrs={"rows": 2}),
            "allowed_origins": forms.Textarea(attrs={"rows": 3, "placeholder": "https://www.example.com"}),
        }
        labels = {"is_explicit_intent": "Counts as explicit intent", "notify": "Notify", "slug": "Address (/f/…)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        cast(forms.ModelChoiceField, self.fields["sequence"]).queryset = Sequence.objects.order_by("name")
        people = User.objects.filter(is_active=True).order_by("first_name", "username")
        cast(forms.ModelChoiceField, self.fields["notify"]).queryset = people

    def _post_clean(self) -> None:
        """The service validates and saves; the model's own checks would only repeat them."""


class FieldRowForm(forms.Form):
    label = forms.CharField(max_length=200, required=False)
    name = forms.CharField(max_length=60, required=False, help_text="Posted name; from the label when empty")
    kind = forms.ChoiceField(choices=FieldKind.choices, initial=FieldKind.TEXT)
    target = forms.ChoiceField(choices=Target.choices, label="Maps to")
    property_name = forms.CharField(max_length=60, required=False, label="Property")
    required = forms.BooleanField(required=False)
    choices = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 1}), label="Options")
    help_text = forms.CharField(max_length=300, required=False, label="Help")


FieldRows = forms.formset_factory(FieldRowForm, extra=2, max_num=40)


def field_rows(formset: Any) -> list[dict[str, Any]]:
    """The filled rows of the fields formset, in order (rows left without a label are dropped)."""
    return [row.cleaned_data for row in formset if row.cleaned_data.get("label")]


class SourceForm(forms.ModelForm):
    field_mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "full_name_from_ad = first_name\n42 = email"}),
        help_text="One mapping a line: their field (LinkedIn: the question id) = ours (email, first_name, "
        "company_name, need, … or property:name). Common names map themselves.",
    )

    class Meta:
        model = WebhookSource
        fields = ["name", "kind", "auth", "secret", "lead_source", "is_explicit_intent", "sequence", "notify",
                  "is_active"]  # fmt: skip
        labels = {"is_explicit_intent": "Counts as explicit intent"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            lines = [f"{theirs} = {ours}" for theirs, ours in self.instance.field_mapping.items()]
            self.initial["field_mapping"] = "\n".join(lines)

    def clean_field_mapping(self) -> dict[str, str]:
        mapping = {}
        for number, line in enumerate(self.cleaned_data["field_mapping"].splitlines(), 1):
            if not line.strip():
                continue
            theirs, sep, ours = line.partition("=")
            if not sep or not theirs.strip() or not ours.strip():
                raise forms.ValidationError(f"Line {number}: write it as their_field = our_field.")
            mapping[theirs.strip()] = ours.strip()
        return mapping

    def _post_clean(self) -> None:
        """The service validates and saves."""
