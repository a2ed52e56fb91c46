"""What this app gives the worker: rescoring every lead after the rules changed, the daily decay, training a
conversion model (asked for, and once a week) and predicting the leads that did something new."""

from leadflow.jobs.worker import register, register_chore

from .models import RescoreJob, TrainingJob
from .services import (
    apply_decay,
    predict_changed_leads,
    queue_weekly_training,
    run_rescore_job,
    run_training_job,
)

register(RescoreJob, run_rescore_job)
register_chore(apply_decay)
register(TrainingJob, run_training_job)
register_chore(queue_weekly_training)
register_chore(predict_changed_leads)
