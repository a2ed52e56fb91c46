"""Imports from the web app: upload, mapping preview, start, the worker's run with its progress, the error file."""

import csv
import io
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.imports.models import ImportJob
from leadflow.imports.services import preview_import, queue_import, upload_import
from leadflow.jobs import worker
from leadflow.jobs.models import JobStatus
from leadflow.leads.models import Lead

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"


def spreadsheet(rows: list[list[str]], name: str = "people.csv") -> SimpleUploadedFile:
    text = io.StringIO()
    csv.writer(text).writerows([["Email", "Given name", "Budget"], *rows])
    return SimpleUploadedFile(name, text.getvalue().encode(), content_type="text/csv")


ROWS = [["ana@acme.example", "Ana", "1000"], ["bad-email", "Bo", "5"], ["cy@acme.example", "Cy", "lots"]]


def drain() -> str:
    out = StringIO()
    call_command("worker", "--once", stdout=out)
    return out.getvalue()


def test_an_upload_waits_with_the_mapping_detected_from_its_headers(rep):
    job = upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    assert (job.status, job.file_name) == ("draft", "people.csv")
    assert job.mapping == {"Email": "email", "Given name": "first_name", "Budget": "budget_amount"}
    preview = preview_import(job, rows=2)
    assert preview.headers == ["Email", "Given name", "Budget"]
    assert preview.rows == [ROWS[0], ROWS[1]]


def test_an_upload_of_another_file_type_is_refused(rep):
    with pytest.raises(InvalidInput, match=r"Unsupported file type \.txt"):
        upload_import(by=rep, file=SimpleUploadedFile("notes.txt", b"hello"), preset="generic")
    assert not ImportJob.objects.exists()


def test_the_worker_runs_a_queued_import_and_keeps_its_counts_and_errors(rep):
    job = upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    queue_import(job, by=rep, mapping={"Email": "email", "Given name": "first_name", "Budget": "budget_amount"})
    assert "1 job run" in drain()
    job.refresh_from_db()
    assert (job.status, job.progress, job.progress_total, job.attempts) == ("done", 3, 3, 1)
    assert job.counts["leads"] == {"read": 3, "new": 1, "updated": 0, "duplicate": 0, "invalid": 2}
    assert "1 new" in job.message
    lead = Lead.objects.get()
    assert (lead.contact.first_name, lead.owner, lead.budget_amount) == ("Ana", rep, 1000)
    errors = list(csv.DictReader(io.StringIO(job.error_file.read().decode())))
    assert [(e["row"], e["column"]) for e in errors] == [("3", "Email"), ("4", "Budget")]


def test_the_worker_leaves_imports_that_were_not_started(rep):
    upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    assert "0 jobs run" in drain()


def test_an_import_starts_once(rep):
    job = upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    queue_import(job, by=rep, mapping={"Email": "email"})
    with pytest.raises(Conflict):
        queue_import(job, by=rep, mapping={"Email": "email"})


def test_only_the_uploader_or_an_admin_may_start_an_import(rep, teammate, admin):
    job = upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    with pytest.raises(NotAllowed):
        queue_import(job, by=teammate, mapping={"Email": "email"})
    assert queue_import(job, by=admin, mapping={"Email": "email"}).status == "queued"


def test_a_mapping_that_names_a_missing_column_is_refused(rep):
    job = upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    with pytest.raises(InvalidInput, match="no column 'Mail'"):
        queue_import(job, by=rep, mapping={"Mail": "email"})


def test_a_job_that_fails_says_why(rep):
    job = upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    queue_import(job, by=rep, mapping={"Email": "email"})
    rep.is_active = False
    rep.save()
    drain()
    job.refresh_from_db()
    assert (job.status, job.message) == (
        "failed",
        "created_by: The user who uploaded this import can no longer sign in.",
    )


def test_a_job_orphaned_by_a_stopped_worker_runs_again(rep):
    job = upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    queue_import(job, by=rep, mapping={"Email": "email"})
    assert worker.claim(ImportJob) is not None  # …and the worker died here
    assert worker.claim(ImportJob) is None  # while it might still be alive, nobody else takes it
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    drain()
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)
    assert Lead.objects.count() == 2


def test_a_job_that_keeps_stopping_the_worker_is_given_up(rep):
    job = upload_import(by=rep, file=spreadsheet(ROWS), preset="generic")
    queue_import(job, by=rep, mapping={"Email": "email"})
    stale = timezone.now() - timedelta(hours=1)
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=worker.MAX_ATTEMPTS, heartbeat_at=stale)
    assert worker.claim(ImportJob) is None
    job.refresh_from_db()
    assert job.status == "failed" and "Gave up" in job.message


def test_re_running_a_finished_import_file_changes_nothing(rep):
    for _ in range(2):
        job = upload_import(by=rep, file=spreadsheet(ROWS[:1]), preset="generic")
        queue_import(job, by=rep, mapping={"Email": "email"})
        drain()
    job.refresh_from_db()
    assert job.counts["leads"]["duplicate"] == 1 and "Nothing changed" in job.message
    assert Lead.objects.count() == 1


@pytest.fixture
def browser(rep):
    client = Client()
    client.force_login(rep)
    return client


def test_the_web_flow_uploads_previews_starts_and_shows_progress(browser, rep):
    page = browser.get("/imports/")
    assert page.status_code == 200 and "Import a spreadsheet" in page.content.decode()
    response = browser.post("/imports/", {"file": spreadsheet(ROWS), "preset": "generic"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/"
    preview = browser.get(f"/imports/{job.pk}/").content.decode()
    assert "Given name" in preview and "ana@acme.example" in preview
    assert '<option value="email" selected>' in preview
    started = browser.post(f"/imports/{job.pk}/start/", {"column_0": "email", "column_1": "first_name", "column_2": ""})
    assert started.status_code == 302
    polling = browser.get(f"/imports/{job.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in polling and "Queued" in polling
    drain()
    finished = browser.get(f"/imports/{job.pk}/progress/").content.decode()
    assert "hx-trigger" not in finished and "Done" in finished and "Download the 1 refused value" in finished
    download = browser.get(f"/imports/{job.pk}/errors.csv")
    assert download["Content-Disposition"] == 'attachment; filename="people-errors.csv"'


def test_the_error_file_download_lists_row_column_and_reason(browser, rep):
    browser.post("/imports/", {"file": spreadsheet(ROWS), "preset": "generic"})
    job = ImportJob.objects.get()
    browser.post(f"/imports/{job.pk}/start/", {"column_0": "email", "column_1": "", "column_2": "budget_amount"})
    drain()
    text = b"".join(browser.get(f"/imports/{job.pk}/errors.csv").streaming_content).decode()
    assert list(csv.reader(io.StringIO(text))) == [
        ["table", "row", "column", "reason"],
        ["leads", "3", "Email", "Enter a valid email address."],
        ["leads", "4", "Budget", "Not a number: 'lots'."],
    ]


def test_the_web_upload_refuses_a_wrong_file_type_on_the_form(browser):
    response = browser.post("/imports/", {"file": SimpleUploadedFile("a.pdf", b"%PDF"), "preset": "generic"})
    assert response.status_code == 422 and "Unsupported file type .pdf" in response.content.decode()


def test_a_mapping_that_identifies_nobody_is_shown_on_the_preview(browser):
    browser.post("/imports/", {"file": spreadsheet(ROWS), "preset": "generic"})
    job = ImportJob.objects.get()
    response = browser.post(f"/imports/{job.pk}/start/", {"column_0": "", "column_1": "", "column_2": "budget_amount"})
    assert response.status_code == 422 and "nothing identifies a lead" in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.DRAFT


def test_another_users_import_does_not_exist_for_you(browser, other_rep):
    job = upload_import(by=other_rep, file=spreadsheet(ROWS), preset="generic")
    assert browser.get(f"/imports/{job.pk}/").status_code == 404
    assert browser.post(f"/imports/{job.pk}/start/", {"column_0": "email"}).status_code == 404
