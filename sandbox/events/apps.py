from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "sandbox.events"
    label = "events"
    verbose_name = "Events, webhooks and clocks"

    def ready(self) -> None:
        # Registers the scheduled-action handlers this app owns (webhook attempts, clock
        # advances), so every process that runs actions knows them.
        from sandbox.events import webhooks  # noqa: F401
