from django.apps import AppConfig


class DuplicatesConfig(AppConfig):
    name = "leadflow.duplicates"
    label = "duplicates"
    verbose_name = "Duplicates"
