from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "sandbox.identities"
    label = "identities"
    verbose_name = "Identities"

    def ready(self) -> None:
        # Production needs its own keyring for the people's data keys (deploy check
        # identities.E001), like the node keys' nodekeys.E001.
        from django.core.checks import Tags, register

        from sandbox.identities import tasks  # noqa: F401  (registers the Celery tasks)
        from sandbox.identities.checks import check_master_key

        register(check_master_key, Tags.security, deploy=True)
