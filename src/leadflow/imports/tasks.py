"""The jobs this app gives the worker: running an uploaded import."""

from leadflow.jobs.worker import register

from .models import ImportJob
from .services import run_import_job

register(ImportJob, run_import_job)
