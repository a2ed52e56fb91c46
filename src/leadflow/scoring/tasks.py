"""The jobs this app gives the worker: rescoring every lead after the rules changed."""

from leadflow.imports.worker import register

from .models import RescoreJob
from .services import run_rescore_job

register(RescoreJob, run_rescore_job)
