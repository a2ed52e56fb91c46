"""Forms of the tracked sites: a site's name, its allowed origins, consent and pricing pages."""

from django import forms


class SiteForm(forms.Form):
    name = forms.CharField(max_length=200)
    allowed_origins = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Allowed origins",
        help_text="One a line, such as https://www.example.com: only pages there may send visits to this site",
    )
    consent_required = forms.BooleanField(
        required=False, initial=True, label="Track only after the visitor consents (leadflow.consent(true))"
    )
    pricing_paths = forms.CharField(
        max_length=500,
        required=False,
        initial="/pricing",
        label="Pricing pages",
        help_text="Paths that start with these count as pricing pages (comma-separated)",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
