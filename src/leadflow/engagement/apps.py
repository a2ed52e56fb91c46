from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "leadflow.engagement"
    label = "engagement"
