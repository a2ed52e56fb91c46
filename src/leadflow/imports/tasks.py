"""The jobs this app gives the worker: running an uploaded import."""

from .models import ImportJob
from .services import run_import_job
from .worker import register

register(ImportJob, run_import_job)
