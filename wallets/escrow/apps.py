from django.apps import AppConfig


class EscrowConfig(AppConfig):
    name = "wallets.escrow"
    label = "escrow"
    verbose_name = "Escrow and disputes"

    def ready(self) -> None:
        # The timeout and dispute-deadline handlers (imported to register them, so every
        # process that runs scheduled actions knows them).
        from sandbox.object_pages import object_page_register
        from wallets.escrow import handlers  # noqa: F401

        object_page_register("escrow", url_name="escrow:escrow")
