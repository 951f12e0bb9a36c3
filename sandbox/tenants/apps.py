from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "sandbox.tenants"
    label = "tenants"
    verbose_name = "Tenants"
