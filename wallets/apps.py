from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "wallets"
    verbose_name = "Wallets and ledger"

    def ready(self) -> None:
        # The hold-expiry handler (imported to register it, so every process that runs
        # actions knows it), and a new node's wallet, made in node_create's transaction.
        from sandbox.object_pages import object_page_register
        from sandbox.tenants.services import on_node_created
        from wallets import handlers  # noqa: F401
        from wallets.services import wallet_create

        on_node_created(wallet_create)
        object_page_register("ledgertransaction", url_name="wallets:transaction")
