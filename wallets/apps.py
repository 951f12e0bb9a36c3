from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "Wallets and ledger"

    def ready(self) -> None:
        # Registers the hold-expiry handler, so every process that runs actions knows it.
        from wallets import handlers  # noqa: F401
