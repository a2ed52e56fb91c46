"""What this app gives the worker: the duplicate scan."""

from leadflow.jobs.worker import register

from .models import DuplicateScanJob
from .services import run_scan_job

register(DuplicateScanJob, run_scan_job)
