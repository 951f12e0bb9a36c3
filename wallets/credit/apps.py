from django.apps import AppConfig


class CreditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallets.credit"
    label = "credit"
    verbose_name = "Credit standing"

    def ready(self) -> None:
        # The test clock hook: a clock that crosses midnights computes its nodes' days.
        from wallets.credit import handlers  # noqa: F401
