from django.apps import AppConfig


class MerchantSettlementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallets.merchant_settlement"
    label = "merchant_settlement"
    verbose_name = "Merchant settlement"

    def ready(self) -> None:
        # Scheduled cycles, the payout's outcome and the node clock hook register here.
        from wallets.merchant_settlement import handlers  # noqa: F401
