"""What this app gives the worker: rescoring every lead after the rules changed, and the daily decay."""

from leadflow.imports.worker import register, register_chore

from .models import RescoreJob
from .services import apply_decay, run_rescore_job

register(RescoreJob, run_rescore_job)
register_chore(apply_decay)
