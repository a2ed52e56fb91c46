"""Forms of the import pages: the upload, and what the user confirms before the import runs (a spreadsheet's
column mapping, or how a product's export updates records already here)."""

from django import forms

from leadflow.imports.spreadsheet import FIELDS

PRESET_CHOICES = [
    ("generic", "Any spreadsheet (columns recognised by their names)"),
    ("hubspot", "HubSpot export: contacts, companies, deals"),
    ("salesforce", "Salesforce export: Data Export object files or a report"),
    ("pipedrive", "Pipedrive export: persons, organizations, deals"),
]
UPDATE_CHOICES = [
    ("fill", "Fill their blank fields only"),
    ("overwrite", "Overwrite them with the export's values (blank cells erase nothing)"),
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
    file = forms.FileField(
        label="File",
        help_text=".csv, .csv.gz or .xlsx, the first row naming the columns; from HubSpot, Salesforce or Pipedrive "
        "also a .zip of their export files",
    )
    preset = forms.ChoiceField(choices=PRESET_CHOICES, label="Exported from")


class StartForm(forms.Form):
    """How a product's export treats the records already in leadflow."""

    update_mode = forms.ChoiceField(
        choices=UPDATE_CHOICES,
        initial="fill",
        widget=forms.RadioSelect,
        label="Records already in leadflow (same email or record id)",
    )


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
