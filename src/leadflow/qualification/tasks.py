"""What this app gives the worker: owners for unassigned leads in the sales queue, and the SLA check."""

from leadflow.jobs.worker import register_chore

from .services import assign_queued_leads, check_slas

register_chore(assign_queued_leads)
register_chore(check_slas)
