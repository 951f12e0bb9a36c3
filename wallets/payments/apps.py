from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "wallets.payments"
    label = "payments"
    verbose_name = "Token-based push payments"

    def ready(self) -> None:
        # The request-expiry handler, registered in every process that runs actions.
        from wallets.payments import handlers  # noqa: F401
