from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "sandbox.tenants"
    label = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from sandbox import checks  # noqa: F401  (registers the platform's deploy checks)
        from sandbox.object_pages import object_page_register
        from sandbox.tenants import lockouts

        lockouts.connect_signals()  # logins, failures and lockouts in the audit log
        object_page_register("node", url_name="dashboard:node")
