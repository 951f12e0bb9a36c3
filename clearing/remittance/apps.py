from django.apps import AppConfig


class RemittanceConfig(AppConfig):
    name = "clearing.remittance"
    label = "remittance"
    verbose_name = "Cross-border remittance over bitcoin"

    def ready(self) -> None:
        # Every process knows the task's name before a remittance is sent by name.
        from clearing.remittance import tasks  # noqa: F401
