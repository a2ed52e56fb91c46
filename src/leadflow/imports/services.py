"""Imports as the app runs them: one entry point for every preset (the command line and the worker both call it),
and the import jobs of the web app: upload, preview the mapping, queue, and the worker's run."""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from leadflow.errors import Conflict, InvalidInput, NotAllowed
from leadflow.jobs.models import JobStatus
from leadflow.users.models import User

from .labels import import_labels
from .leadforge import LeadforgeImport
from .models import ImportJob
from .presets import VENDORS
from .readers import check_supported, count_rows, read_rows, suffix_of
from .report import FIRST_ROW, ImportReport, Progress
from .spreadsheet import PRESETS as SPREADSHEET_PRESETS
from .spreadsheet import SpreadsheetImport, check_mapping, check_mapping_fits, detect_mapping
from .vendor import UPDATE_MODES, export_contents, import_export

PRESETS = (*SPREADSHEET_PRESETS, *VENDORS, "leadforge", "leadforge-labels")


def import_path(
    path: Path,
    *,
    preset: str,
    by: User | None,
    mapping: dict[str, str] | None = None,
    update: str = "fill",
    dry_run: bool = False,
    progress: Progress | None = None,
    resume: ImportReport | None = None,
    committed: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import a spreadsheet (captured by `by`; it can resume, see SpreadsheetImport), a product's export (a file,
    folder or zip; existing records updated by `update`), a leadforge bundle folder (one transaction) or a leadforge
    labels file."""
    if preset == "leadforge":
        return LeadforgeImport(path, dry_run=dry_run, progress=progress).run()
    if preset == "leadforge-labels":
        return import_labels(path, dry_run=dry_run)
    if preset not in PRESETS:
        raise InvalidInput.on("preset", f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    if by is None:
        raise InvalidInput.on("as", "Name the user the imported leads are captured by.")
    if preset in VENDORS:
        return import_export(path, preset=preset, by=by, update=update, dry_run=dry_run, progress=progress)
    return SpreadsheetImport(
        path, by=by, preset=preset, mapping=mapping, dry_run=dry_run, progress=progress, resume=resume,
        committed=committed,
    ).run()  # fmt: skip


def _ensure_owns(job: ImportJob, by: User) -> None:
    if not (by.is_admin or job.created_by_id == by.pk):
        raise NotAllowed("Only the person who uploaded an import, or an admin, may run it.")


UPLOAD_PRESETS = (*SPREADSHEET_PRESETS, *VENDORS)


def upload_import(*, by: User, file: UploadedFile, preset: str) -> ImportJob:
    """Keep an uploaded file as an import not yet started: for a spreadsheet, with the mapping detected from its
    headers; for a product's export (a file or a .zip of its files), with the files it holds."""
    name = Path(file.name or "").name
    if preset not in UPLOAD_PRESETS:
        raise InvalidInput.on("preset", f"Choose one of {', '.join(UPLOAD_PRESETS)}.")
    if not (preset in VENDORS and suffix_of(name) == ".zip"):
        check_supported(name)
    job = ImportJob(created_by=by, preset=preset, file_name=name, status=JobStatus.DRAFT)
    job.file.save(name, file, save=False)
    try:
        if preset in VENDORS:
            job.details = {"files": export_contents(Path(job.file.path), VENDORS[preset])}
        else:
            headers, rows = read_rows(Path(job.file.path))
            rows.close()
            job.mapping = detect_mapping(headers, preset)
    except InvalidInput:
        job.file.delete(save=False)
        raise
    job.save()
    return job


@dataclass(frozen=True)
class Preview:
    """The first rows of an upload, and how its columns map to leadflow's fields."""

    headers: list[str]
    mapping: dict[str, str]
    rows: list[list[str]]  # values in the order of the headers


def preview_import(job: ImportJob, *, rows: int = 5) -> Preview:
    """The job's headers, its mapping and its first `rows` rows."""
    headers, values = read_rows(Path(job.file.path))
    try:
        sample = [[row.get(header, "") for header in headers] for row in islice(values, rows)]
    finally:
        values.close()
    return Preview(headers, job.mapping, sample)


@transaction.atomic
def queue_import(
    job: ImportJob, *, by: User, mapping: dict[str, str] | None = None, update_mode: str = "fill"
) -> ImportJob:
    """Start an uploaded import with the mapping the user confirmed (a spreadsheet) or how to update records
    already here (a product's export); the worker picks it up."""
    _ensure_owns(job, by)
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != JobStatus.DRAFT:
        raise Conflict("This import has started already.", errors={"status": [job.get_status_display()]})
    if job.preset in VENDORS:
        if update_mode not in UPDATE_MODES:
            raise InvalidInput.on("update_mode", f"Choose one of {', '.join(UPDATE_MODES)}.")
        job.update_mode = update_mode
        job.progress_total = sum(rows or 0 for _, _, rows in job.details.get("files", [])) or None
    else:
        mapping = check_mapping(mapping or {})
        headers, rows = read_rows(Path(job.file.path))
        rows.close()
        check_mapping_fits(mapping, headers)
        job.mapping = mapping
        job.progress_total = count_rows(Path(job.file.path))
    job.status = JobStatus.QUEUED
    job.save()
    return job


def run_import_job(job: ImportJob, progress: Callable[[int], None]) -> str:
    """Import the job's file as the user who uploaded it, keeping the counts and the invalid rows; returns what
    it did in a sentence (the worker's runner for import jobs). What each committed chunk did is kept on the job in
    the same transaction, so an import cut off half-way resumes after the last chunk written."""
    if job.created_by is None or not job.created_by.is_active:
        raise InvalidInput.on("created_by", "The user who uploaded this import can no longer sign in.")
    vendor = job.preset in VENDORS
    resume = ImportReport.resumed(job.checkpoint) if job.checkpoint else None

    def committed(report: ImportReport) -> None:
        ImportJob.objects.filter(pk=job.pk).update(checkpoint=report.state())

    report = import_path(
        Path(job.file.path),
        preset=job.preset,
        by=job.created_by,
        mapping=None if vendor else job.mapping,
        update=job.update_mode,
        progress=lambda table, rows: progress(rows),
        resume=resume,
        committed=committed,
    )
    job.counts = report.counts()
    job.error_count = len(report.errors)
    job.details = {**job.details, **report.details()}
    if report.errors:
        suffix, content = report.errors_file()
        job.error_file.save(f"import-{job.pk}-errors{suffix}", ContentFile(content), save=False)
    job.save(update_fields=["counts", "error_count", "error_file", "details"])
    if resume is not None:
        return f"Resumed after row {resume.rows + FIRST_ROW - 1:,}: {report.sentence()}"
    return report.sentence()
