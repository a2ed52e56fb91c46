"""Forms of the import pages: the upload, and the column mapping the user confirms before the import runs."""

from django import forms

from leadflow.imports.spreadsheet import FIELDS

PRESET_CHOICES = [
    ("generic", "Any spreadsheet (columns recognised by their names)"),
    ("hubspot", "HubSpot contacts export"),
    ("salesforce", "Salesforce leads export"),
]
FIELD_LABELS = {
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "external_id": "External id (dedupes re-imports)",
    "domain": "Company website or domain",
    "employee_band": "Employees",
    "created_at": "Created on",
    "owner": "Owner (username, email or name)",
}
FIELD_CHOICES = [("", "— Ignore this column —")] + [
    (name, FIELD_LABELS.get(name, name.replace("_", " ").capitalize())) for name in FIELDS
]


class UploadForm(forms.Form):
    file = forms.FileField(label="Spreadsheet", help_text=".csv, .csv.gz or .xlsx; the first row names the columns")
    preset = forms.ChoiceField(choices=PRESET_CHOICES, label="Exported from")


class MappingForm(forms.Form):
    """One choice per column of the file: the leadflow field it fills, or none."""

    def __init__(self, *args, headers: list[str], mapping: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers
        for index, header in enumerate(headers):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                choices=FIELD_CHOICES,
                required=False,
                label=header or f"Column {index + 1}",
                initial=mapping.get(header),
            )

    def mapping(self) -> dict[str, str]:
        """{column header: field} as chosen (ignored columns map to "")."""
        return {header: self.cleaned_data[f"column_{index}"] for index, header in enumerate(self.headers)}
