from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "leadflow.scoring"
    label = "scoring"

    def ready(self) -> None:
        from leadflow.engagement.signals import events_ingested
        from leadflow.leads.signals import leads_merged

        from .services import score_merged_lead, score_new_events

        events_ingested.connect(score_new_events, dispatch_uid="scoring.score_new_events")
        leads_merged.connect(score_merged_lead, dispatch_uid="scoring.score_merged_lead")
