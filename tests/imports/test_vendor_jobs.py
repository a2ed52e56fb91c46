"""A product's export imported from the web app: upload (a file or a zip), start with an update mode, the
worker's run, the details it keeps and the fixable copy of the refused rows."""

import io
import zipfile
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

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
