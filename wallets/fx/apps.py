from django.apps import AppConfig


class FxConfig(AppConfig):
    name = "wallets.fx"
    label = "fx"
    verbose_name = "FX: rates, quotes and conversions"
