"""The import pages: upload a spreadsheet (check how its columns map with a few sample rows) or a product's export
(see the files it holds, choose how records already here are updated), start the import, watch its progress
(htmx polls every second), read what it could not map, and download the rows it refused."""

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from leadflow.errors import DomainError
from leadflow.imports import selectors, services
from leadflow.imports.models import ImportJob
from leadflow.imports.presets import VENDORS
from leadflow.jobs.models import JobStatus

from ..forms import add_domain_errors
from ..forms.imports import MappingForm, StartForm, UploadForm
from .common import current


@login_required
def import_list(request: HttpRequest) -> HttpResponse:
    """Recent imports and the upload form; an upload leads on to its mapping preview."""
    user = current(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.upload_import(by=user, file=form.cleaned_data["file"], preset=form.cleaned_data["preset"])
        except DomainError as error:
            add_domain_errors(form, error)
        else:
            return redirect("web:import", job.pk)
    jobs = selectors.import_jobs_visible_to(user)[:20]
    return render(request, "web/imports/list.html", {"form": form, "jobs": jobs}, status=422 if form.errors else 200)


def _detail(request: HttpRequest, job: ImportJob, form: MappingForm | StartForm | None = None) -> HttpResponse:
    context: dict = {"job": job}
    if job.status == JobStatus.DRAFT and job.preset in VENDORS:
        form = form or StartForm()
        context.update(start_form=form, files=job.details.get("files", []))
    elif job.status == JobStatus.DRAFT:
        preview = services.preview_import(job)
        form = form or MappingForm(headers=preview.headers, mapping=preview.mapping)
        samples = [[row[index] for row in preview.rows] for index in range(len(preview.headers))]
        context.update(form=form, columns=list(zip(form, samples, strict=True)), sample_rows=len(preview.rows))
    return render(request, "web/imports/detail.html", context, status=422 if form is not None and form.errors else 200)


@login_required
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """Before the start: the mapping with sample values, or the export's files; after: progress, then the counts
    and what needs the user's eye."""
    return _detail(request, selectors.get_import_job(current(request), job_id))


@login_required
@require_POST
def import_start(request: HttpRequest, job_id: int) -> HttpResponse:
    user = current(request)
    job = selectors.get_import_job(user, job_id)
    form: MappingForm | StartForm
    if job.preset in VENDORS:
        form = StartForm(request.POST)
    else:
        preview = services.preview_import(job)
        form = MappingForm(request.POST, headers=preview.headers, mapping=preview.mapping)
    if form.is_valid():
        try:
            if isinstance(form, StartForm):
                services.queue_import(job, by=user, update_mode=form.cleaned_data["update_mode"])
            else:
                services.queue_import(job, by=user, mapping=form.mapping())
        except DomainError as error:
            add_domain_errors(form, error)
        else:
            return redirect("web:import", job.pk)
    return _detail(request, job, form)


@login_required
def import_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress panel (polled while the import runs; it stops polling once the import is over)."""
    job = selectors.get_import_job(current(request), job_id)
    return render(request, "web/imports/_progress.html", {"job": job})


@login_required
def import_errors(request: HttpRequest, job_id: int) -> FileResponse:
    """The rows the import refused: for a product's export, a fixable copy (.csv, or .zip for several files);
    for a spreadsheet, row, column and reason as CSV."""
    job = selectors.get_import_job(current(request), job_id)
    if not job.error_file:
        raise Http404("This import refused no rows.")
    suffix = Path(job.error_file.name).suffix
    name = f"{Path(job.file_name).name.split('.')[0]}-errors{suffix}"
    kind = "application/zip" if suffix == ".zip" else "text/csv"
    return FileResponse(job.error_file.open("rb"), as_attachment=True, filename=name, content_type=kind)
