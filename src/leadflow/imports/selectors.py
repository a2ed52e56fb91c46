"""Reads of import jobs: each user sees the imports they uploaded, an admin sees every one."""

from django.db.models import QuerySet
from django.http import Http404

from leadflow.users.models import User

from .models import ImportJob


def import_jobs_visible_to(user: User) -> QuerySet[ImportJob]:
    jobs = ImportJob.objects.select_related("created_by")
    return jobs if user.is_admin else jobs.filter(created_by=user)


def get_import_job(user: User, job_id: int) -> ImportJob:
    """The import if the user may see it; otherwise it does not exist for them."""
    job = import_jobs_visible_to(user).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such import.")
    return job
