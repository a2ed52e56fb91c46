"""An admin moves in from HubSpot on the Imports page and reads which values leadflow did not know."""

import csv
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from leadflow.leads.models import Lead

from .conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)
HEADER = ["Record ID", "First Name", "Last Name", "Email", "Lifecycle Stage", "Lead Status", "Original Source",
          "Create Date"]  # fmt: skip
ROWS = [
    ["101", "Ana", "Lima", "ana@northwind.example", "marketingqualifiedlead", "OPEN", "PAID_SEARCH", "2024-03-05"],
    ["102", "Ben", "Ortiz", "ben@contoso.example", "lead", "UNQUALIFIED", "CARRIER_PIGEON", "2024-03-06"],
    ["103", "Cy", "Park", "cy@fabrikam", "subscriber", "NEW", "Organic Search", "2024-03-07"],
]


def test_an_admin_imports_a_hubspot_export_and_sees_the_unknown_values(page, admin, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    text = StringIO()
    csv.writer(text).writerows([HEADER, *ROWS])
    export = tmp_path / "hubspot-contacts.csv"
    export.write_text(text.getvalue())
    log_in(page, admin.username)

    page.goto("/imports/")
    page.get_by_label("File").set_input_files(str(export))
    page.get_by_label("Exported from").select_option("hubspot")
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", name="What the export holds")).to_be_visible()
    expect(page.get_by_role("cell", name="HubSpot contacts")).to_be_visible()
    expect(page.get_by_label("Fill their blank fields only")).to_be_checked()
    page.screenshot(path=str(tmp_path / "import-start.png"), full_page=True)
    page.get_by_role("button", name="Start the import").click()

    expect(page.get_by_text("Waiting for the worker")).to_be_visible()
    call_command("worker", "--once", stdout=StringIO())
    unknown = page.get_by_role("region", name="Values leadflow does not know")
    expect(unknown).to_contain_text("Original Source: 'CARRIER_PIGEON' on 1 row")
    expect(page.get_by_role("link", name="Download the 1 refused row")).to_be_visible()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.screenshot(path=str(tmp_path / "import-done.png"), full_page=True)
    stages = dict(Lead.objects.values_list("external_id", "lifecycle_stage"))
    assert stages == {"hubspot:101": "prospect", "hubspot:102": "disqualified"}
