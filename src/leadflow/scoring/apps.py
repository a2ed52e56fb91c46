from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "leadflow.scoring"
    label = "scoring"

    def ready(self) -> None:
        from leadflow.engagement.signals import events_ingested

        from .services import score_new_events

        events_ingested.connect(score_new_events, dispatch_uid="scoring.score_new_events")
