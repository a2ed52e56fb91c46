from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "leadflow.nurture"
    label = "nurture"
