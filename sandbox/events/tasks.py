"""Celery tasks: thin wrappers that take ids and call services. All are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from sandbox.events import clocks, retention, scheduling, services, webhook_batches


@shared_task(name=services.RELAY_OUTBOX_TASK, ignore_result=True)
def relay_outbox() -> int:
    """Beat runs this every few seconds; every committed event also nudges it."""
    return services.outbox_relay()


@shared_task(name=scheduling.SWEEP_TASK, ignore_result=True)
def sweep_due_actions() -> int:
    """Beat runs this every few seconds: queue what real time (or a ready clock) made due,
    and restart clock advances that never started."""
    clocks.resume_stalled_advances()
    return scheduling.sweep()


@shared_task(name=scheduling.RUN_ACTION_TASK, ignore_result=True)
def run_scheduled_action(action_id: int, only_if_due: bool = False) -> bool:
    return scheduling.action_run(action_id=action_id, only_if_due=only_if_due)


@shared_task(name=scheduling.DELIVER_WEBHOOK_TASK, ignore_result=True)
def deliver_webhook(action_id: int, only_if_due: bool = False) -> bool:
    """A webhook attempt (a scheduled action of kind ``webhook.attempt``), on the webhook
    queue: the same work as ``run_scheduled_action``, where bank work never waits for it."""
    return scheduling.action_run(action_id=action_id, only_if_due=only_if_due)


@shared_task(name=scheduling.DELIVER_ENDPOINT_TASK, ignore_result=True)
def deliver_endpoint_webhooks(node_id: str) -> int:
    """The due webhook attempts of one node's endpoint, sent in batches (on the webhook
    queue): what the relay, the sweep and a retry's countdown queue."""
    return webhook_batches.endpoint_deliver_due(node_id=node_id)


@shared_task(name=clocks.ADVANCE_TASK, ignore_result=True)
def advance_test_clock(clock_id: str) -> bool:
    return clocks.test_clock_run_advance(clock_id=clock_id)


@shared_task(name=retention.PURGE_TASK, ignore_result=True)
def purge_old_events() -> int:
    """Nightly (django-celery-beat, 04:30 Asia/Seoul; migration 0003)."""
    return retention.events_purge()
