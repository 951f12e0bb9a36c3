from django.apps import AppConfig


class RemittanceConfig(AppConfig):
    name = "clearing.remittance"
    label = "remittance"
    verbose_name = "Cross-border remittance over bitcoin"
