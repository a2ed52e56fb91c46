from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "leadflow.imports"
    label = "imports"
