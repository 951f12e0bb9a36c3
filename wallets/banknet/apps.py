from django.apps import AppConfig


class BanknetConfig(AppConfig):
    name = "wallets.banknet"
    label = "banknet"
    verbose_name = "Simulated bank network"

    def ready(self) -> None:
        # Scheduled-action handlers: deposits credited, bank answers, card authorisations
        # expiring, all on the node's clock.
        from wallets.banknet import handlers  # noqa: F401
