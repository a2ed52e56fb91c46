from django.apps import AppConfig


class QualificationConfig(AppConfig):
    name = "leadflow.qualification"
    label = "qualification"

    def ready(self) -> None:
        from leadflow.engagement.signals import events_ingested
        from leadflow.leads.signals import lifecycle_changed, stage_entry_requested

        from . import services

        events_ingested.connect(services.promote_on_intent, dispatch_uid="qualification.promote_on_intent")
        lifecycle_changed.connect(services.follow_lifecycle, dispatch_uid="qualification.follow_lifecycle")
        stage_entry_requested.connect(services.missing_for_entry, dispatch_uid="qualification.missing_for_entry")
