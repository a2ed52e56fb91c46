from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "leadflow.demo"
    label = "demo"
