"""A product's export imported from the web app: upload (a file or a zip), start with an update mode, the
worker's run, the details it keeps and the fixable copy of the refused rows."""

import io
import zipfile
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from leadflow.errors import InvalidInput
from leadflow.imports.models import ImportJob
from leadflow.imports.report import REASON_COLUMN
from leadflow.imports.services import queue_import, upload_import

from .vendor_files import HUBSPOT_CONTACTS, HUBSPOT_DEALS, write, zip_folder

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"


def upload(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def drain() -> str:
    out = StringIO()
    call_command("worker", "--once", stdout=out)
    return out.getvalue()


def test_a_zip_upload_lists_the_files_it_holds(tmp_path, admin):
    write(tmp_path / "export" / "contacts.csv", HUBSPOT_CONTACTS, [{"Email": "a@acme.example"}] * 2)
    write(tmp_path / "export" / "deals.csv", HUBSPOT_DEALS, [{"Deal Name": "A"}])
    write(tmp_path / "export" / "readme.csv", ["Note"], [{"Note": "hello"}])
    job = upload_import(by=admin, file=upload(zip_folder(tmp_path / "export", tmp_path / "x.zip")), preset="hubspot")
    job.refresh_from_db()
    assert job.details["files"] == [["contacts.csv", "HubSpot contacts", 2], ["deals.csv", "HubSpot deals", 1]]


def test_an_upload_holding_nothing_of_the_product_is_refused(tmp_path, admin):
    path = write(tmp_path / "notes.csv", ["Note", "When"], [{"Note": "hi"}])
    with pytest.raises(InvalidInput, match=r"No Salesforce export found in notes\.csv"):
        upload_import(by=admin, file=upload(path), preset="salesforce")
    assert not ImportJob.objects.exists()


def test_a_zip_is_refused_for_a_plain_spreadsheet(tmp_path, admin):
    write(tmp_path / "export" / "contacts.csv", HUBSPOT_CONTACTS, [{"Email": "a@acme.example"}])
    archive = zip_folder(tmp_path / "export", tmp_path / "x.zip")
    with pytest.raises(InvalidInput, match=r"Unsupported file type \.zip"):
        upload_import(by=admin, file=upload(archive), preset="generic")


def test_the_worker_runs_it_and_keeps_the_details_and_the_fixable_copy(tmp_path, admin):
    rows = [{"Record ID": "1", "Email": "a@acme.example", "Original Source": "CARRIER_PIGEON", "Job Title": "CFO"},
            {"Record ID": "2", "Email": "b@acme", "First Name": "Bo"}]  # fmt: skip
    job = upload_import(
        by=admin, file=upload(write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, rows)), preset="hubspot"
    )
    queue_import(job, by=admin, update_mode="overwrite")
    job.refresh_from_db()
    assert (job.update_mode, job.progress_total) == ("overwrite", 2)
    assert "1 job run" in drain()
    job.refresh_from_db()
    assert (job.status, job.progress) == ("done", 2)
    assert job.counts["HubSpot contacts"]["new"] == 1
    assert job.details["unknown"] == ["Original Source: 'CARRIER_PIGEON' on 1 row"]
    assert job.error_file.name.endswith(".csv")
    text = job.error_file.read().decode("utf-8-sig")
    assert text.splitlines()[0].endswith(f",{REASON_COLUMN}")
    assert "b@acme" in text


def test_refused_rows_of_a_zip_come_back_as_a_zip(tmp_path, admin):
    write(tmp_path / "export" / "contacts.csv", HUBSPOT_CONTACTS, [{"Email": "bad@"}])
    write(tmp_path / "export" / "deals.csv", HUBSPOT_DEALS, [{"Amount": "1"}])
    job = upload_import(by=admin, file=upload(zip_folder(tmp_path / "export", tmp_path / "x.zip")), preset="hubspot")
    queue_import(job, by=admin)
    drain()
    job.refresh_from_db()
    assert job.error_file.name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(job.error_file.read())) as bundle:
        assert sorted(bundle.namelist()) == ["contacts.csv", "deals.csv"]


def test_an_unknown_update_mode_is_refused(tmp_path, admin):
    path = write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, [{"Email": "a@acme.example"}])
    job = upload_import(by=admin, file=upload(path), preset="hubspot")
    with pytest.raises(InvalidInput, match="Choose one of fill, overwrite"):
        queue_import(job, by=admin, update_mode="merge")


@pytest.fixture
def browser(admin):
    client = Client()
    client.force_login(admin)
    return client


def test_the_web_flow_lists_the_files_starts_with_an_update_mode_and_shows_the_unknown_values(tmp_path, browser):
    write(tmp_path / "export" / "contacts.csv", HUBSPOT_CONTACTS, [
        {"Record ID": "1", "Email": "a@acme.example", "Lifecycle Stage": "champion"},
        {"Record ID": "2", "Email": "b@acme"}])  # fmt: skip
    write(tmp_path / "export" / "deals.csv", HUBSPOT_DEALS, [{"Deal Name": "Acme", "Deal Stage": "contractsent"}])
    archive = zip_folder(tmp_path / "export", tmp_path / "hubspot.zip")
    response = browser.post("/imports/", {"file": upload(archive), "preset": "hubspot"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/"
    page = browser.get(f"/imports/{job.pk}/").content.decode()
    assert "What the export holds" in page and "HubSpot deals" in page
    assert 'type="radio" name="update_mode" value="fill"' in page
    assert browser.post(f"/imports/{job.pk}/start/", {"update_mode": "overwrite"}).status_code == 302
    job.refresh_from_db()
    assert (job.status, job.update_mode) == ("queued", "overwrite")
    drain()
    finished = browser.get(f"/imports/{job.pk}/progress/").content.decode()
    assert "Values leadflow does not know" in finished and "Lifecycle Stage: &#x27;champion&#x27; on 1 row" in finished
    assert "Download the 1 refused row" in finished
    download = browser.get(f"/imports/{job.pk}/errors.csv")
    assert download["Content-Disposition"] == 'attachment; filename="hubspot-errors.csv"'


def test_starting_without_an_update_mode_shows_the_form_again(tmp_path, browser):
    path = write(tmp_path / "contacts.csv", HUBSPOT_CONTACTS, [{"Email": "a@acme.example"}])
    browser.post("/imports/", {"file": upload(path), "preset": "hubspot"})
    job = ImportJob.objects.get()
    response = browser.post(f"/imports/{job.pk}/start/", {"update_mode": "merge"})
    assert response.status_code == 422 and "Select a valid choice" in response.content.decode()
    job.refresh_from_db()
    assert job.status == "draft"
