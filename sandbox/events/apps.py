from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "sandbox.events"
    label = "events"
    verbose_name = "Events, webhooks and clocks"

    def ready(self) -> None:
        # Imported to register what they declare, so every process knows it: the
        # scheduled-action handlers this app owns (webhook attempts), and its Celery tasks
        # (services queue them by name, ``sandbox.events.queue.enqueue``).
        from sandbox import clock
        from sandbox.events import tasks, webhooks  # noqa: F401
        from sandbox.events.clocks import node_clock_time, platform_clock_row
        from sandbox.object_pages import object_page_register

        # sandbox.clock computes the time; the clocks' rows are this app's.
        clock.clock_rows_register(platform_row=platform_clock_row, node_clock_time=node_clock_time)
        object_page_register("testclock", url_name="events:clock")
