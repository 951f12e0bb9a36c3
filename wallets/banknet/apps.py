from django.apps import AppConfig


class BanknetConfig(AppConfig):
    name = "wallets.banknet"
    label = "banknet"
    verbose_name = "Simulated bank network"

    def ready(self) -> None:
        # Scheduled-action handlers (imported to register them): deposits credited, bank
        # answers, card authorisations expiring, all on the node's clock. And a new node's
        # daily statement, scheduled in node_create's transaction at the coming midnight of
        # its time (after its wallet: wallets is ready first).
        from sandbox.identities.verification.registry import register_account_holder_matcher
        from sandbox.object_pages import object_page_register
        from sandbox.tenants.services import on_node_created
        from wallets.banknet import handlers  # noqa: F401
        from wallets.banknet.endofday import end_of_day_start
        from wallets.banknet.holder_match import account_holder_match

        on_node_created(end_of_day_start)
        # The real-name check of identity verification asks accounts' holders (a score).
        register_account_holder_matcher(account_holder_match)
        # Events link to their object's page; the objects without one, to their node's.
        object_page_register("bankaccount", url_name="banknet:bank-account")
        object_page_register(
            "deposit",
            "withdrawal",
            "hold",
            "cardpayment",
            "accountlink",
            url_name="banknet:node",
            argument="node_id",
        )
