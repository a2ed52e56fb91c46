from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "leadflow.tracking"
    label = "tracking"

    def ready(self) -> None:
        from leadflow.nurture.signals import link_followed

        from .services import carry_identity

        link_followed.connect(carry_identity, dispatch_uid="tracking.carry_identity")
