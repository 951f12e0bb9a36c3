from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "clearing.recovery"
    label = "recovery"
    verbose_name = "Backups and restore drills"

    def ready(self) -> None:
        # Every process knows the backup and drill task names before beat sends them.
        from clearing.recovery import tasks  # noqa: F401
