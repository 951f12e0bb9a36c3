from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "Wallets and ledger"

    def ready(self) -> None:
        # The hold-expiry handler (imported to register it, so every process that runs
        # actions knows it), and a new node's wallet, made in node_create's transaction.
        from sandbox.object_pages import object_page_register
        from sandbox.tenants.services import on_node_created
        from wallets import handlers  # noqa: F401
        from wallets.account_days import recut_if_zone_changed
        from wallets.services import wallet_create

        on_node_created(wallet_create)
        object_page_register("ledgertransaction", url_name="wallets:transaction")
        # The charts' roll-up cuts days in TIME_ZONE: cut anew when that changed.
        post_migrate.connect(recut_if_zone_changed, sender=self)
