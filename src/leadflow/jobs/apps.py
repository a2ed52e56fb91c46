from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "leadflow.jobs"
    label = "jobs"
