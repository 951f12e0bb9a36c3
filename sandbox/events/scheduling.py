"""Things due at a time: register a handler for a kind, schedule actions of that kind for a
node, and they run once the node's time (its test clock, or the platform clock) passes
their due time.

    from sandbox.events import scheduling

    @scheduling.handler("banknet.deposit_credit")
    def _credit(action):            # runs inside a transaction with the action's "done" mark
        deposit_credit(deposit_id=action.payload["deposit"])

    scheduling.schedule(kind="banknet.deposit_credit", node=node, due_at=when,
                        payload={"deposit": str(deposit.pk)}, key=f"deposit:{deposit.pk}")

Register handlers in a module your AppConfig.ready() imports, so every process knows them.
Real time is swept by Celery beat (``events.sweep_due_actions``); advancing a test clock
runs what falls due for its nodes in due-time order (``clocks.test_clock_run_advance``).

Handlers must be safe to run twice: an action is claimed with a conditional UPDATE and a
lease, and one whose worker died is claimed again once the lease runs out. With
``atomic=True`` (the default) the handler's writes and the "done" mark commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from sandbox.clock import now as clock_now
from sandbox.events import queue
from sandbox.events.models import ScheduledAction, TestClock
from sandbox.tenants.models import Node, Tenant

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
REENQUEUE_AFTER = timedelta(seconds=60)
MAX_RUNS = 5  # a handler that keeps raising is retried this often, then marked failed
RUN_ACTION_TASK = "events.run_scheduled_action"
SWEEP_TASK = "events.sweep_due_actions"


@dataclass(frozen=True)
class Handler:
    func: Callable[[ScheduledAction], Any]
    atomic: bool


_HANDLERS: dict[str, Handler] = {}


def handler(kind: str, *, atomic: bool = True):
    """Register ``func(action)`` for ``kind``. Use ``atomic=False`` for handlers that do slow
    I/O (HTTP) and must not hold a transaction open; they manage their own."""

    def decorator(func):
        _HANDLERS[kind] = Handler(func=func, atomic=atomic)
        return func

    return decorator


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


def schedule(
    *,
    kind: str,
    due_at: datetime,
    node: Node | None = None,
    tenant: Tenant | None = None,
    payload: dict[str, Any] | None = None,
    key: str = "",
) -> ScheduledAction:
    """Register an action in the caller's transaction. With a ``key``, scheduling the same
    kind and key again returns the first action instead of adding a second."""
    if kind not in _HANDLERS:
        raise ValueError(f"No handler is registered for scheduled actions of kind {kind!r}.")
    if node is not None and tenant is None:
        tenant = node.tenant
    fields = {"tenant": tenant, "node": node, "payload": payload or {}, "due_at": due_at}
    if key:
        existing = ScheduledAction.objects.filter(kind=kind, key=key).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                action = ScheduledAction.objects.create(kind=kind, key=key, **fields)
        except IntegrityError:
            return ScheduledAction.objects.get(kind=kind, key=key)
    else:
        action = ScheduledAction.objects.create(kind=kind, **fields)
    if due_at <= clock_now(node_id=node.pk if node is not None else None):
        # Already due: run it soon after commit instead of waiting for the next sweep.
        transaction.on_commit(lambda: dispatch([action.pk]), robust=True)
    return action


def cancel(*, kind: str, key: str) -> bool:
    """Cancel a pending action; False if it already ran, runs, or never existed."""
    return (
        ScheduledAction.objects.filter(
            kind=kind, key=key, status=ScheduledAction.Status.PENDING
        ).update(status=ScheduledAction.Status.CANCELLED, finished_at=timezone.now())
        == 1
    )


def reopen(*, kind: str, key: str, due_at: datetime) -> bool:
    """Make a cancelled action pending again, due at ``due_at`` (a time still ahead): for
    schedules that are cancelled and made again under the same key. False if the action is
    not cancelled."""
    return (
        ScheduledAction.objects.filter(
            kind=kind, key=key, status=ScheduledAction.Status.CANCELLED
        ).update(
            status=ScheduledAction.Status.PENDING,
            due_at=due_at,
            run_count=0,
            finished_at=None,
            enqueued_at=None,
            lease_until=None,
            last_error="",
        )
        == 1
    )


def _claimable(real_now: datetime) -> Q:
    return Q(status=ScheduledAction.Status.PENDING) | Q(
        status=ScheduledAction.Status.RUNNING, lease_until__lt=real_now
    )


def action_run(*, action_id: int) -> bool:
    """Run one action if it can be claimed; False when another process has it or it is
    finished. Safe to call twice, from anywhere."""
    real_now = timezone.now()
    claimed = ScheduledAction.objects.filter(_claimable(real_now), pk=action_id).update(
        status=ScheduledAction.Status.RUNNING,
        lease_until=real_now + LEASE,
        run_count=F("run_count") + 1,
    )
    if claimed != 1:
        return False
    action = ScheduledAction.objects.select_related("node").get(pk=action_id)
    registered = _HANDLERS.get(action.kind)
    try:
        if registered is None:
            raise LookupError(f"No handler for kind {action.kind!r} in this process.")
        if registered.atomic:
            with transaction.atomic():
                registered.func(action)
                _finish(action, ScheduledAction.Status.DONE)
        else:
            registered.func(action)
            _finish(action, ScheduledAction.Status.DONE)
    except Exception as exc:
        logger.exception("Scheduled action %s (%s) failed", action.pk, action.kind)
        _after_failure(action, exc)
    return True


def _finish(action: ScheduledAction, status: str, error: str = "") -> None:
    ScheduledAction.objects.filter(pk=action.pk, status=ScheduledAction.Status.RUNNING).update(
        status=status, finished_at=timezone.now(), lease_until=None, last_error=error
    )


def _after_failure(action: ScheduledAction, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if action.run_count >= MAX_RUNS:
        _finish(action, ScheduledAction.Status.FAILED, error)
        return
    # Try again later, on the node's clock, backing off: 1, 2, 4, 8 minutes.
    retry_at = clock_now(node_id=action.node_id) + timedelta(minutes=2 ** (action.run_count - 1))
    ScheduledAction.objects.filter(pk=action.pk, status=ScheduledAction.Status.RUNNING).update(
        status=ScheduledAction.Status.PENDING,
        due_at=retry_at,
        lease_until=None,
        enqueued_at=None,
        last_error=error,
    )


def due_on_real_time():
    """Actions due by the platform clock (nodes on no test clock), or by a ready test clock
    whose time has already passed them. Advancing clocks run their own."""
    platform = clock_now()
    return ScheduledAction.objects.filter(_claimable(timezone.now())).filter(
        Q(node__isnull=True, due_at__lte=platform)
        | Q(node__isnull=False, node__clock_attachment__isnull=True, due_at__lte=platform)
        | Q(
            node__clock_attachment__clock__status=TestClock.Status.READY,
            due_at__lte=F("node__clock_attachment__clock__frozen_time"),
        )
    )


def sweep(*, limit: int = 500) -> int:
    """Queue every due action (beat calls this every few seconds); returns how many."""
    ids = list(due_on_real_time().order_by("due_at", "pk").values_list("pk", flat=True)[:limit])
    return dispatch(ids)


def dispatch(action_ids: Iterable[int]) -> int:
    """Hand actions to Celery. An action queued in the last minute is not queued again; if
    the broker is down the action stays pending in the database for the next sweep."""
    queued = 0
    for action_id in action_ids:
        real_now = timezone.now()
        marked = (
            ScheduledAction.objects.filter(_claimable(real_now), pk=action_id)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=real_now - REENQUEUE_AFTER))
            .update(enqueued_at=real_now)
        )
        if not marked:
            continue
        if not queue.enqueue(RUN_ACTION_TASK, action_id):
            # The broker is down: leave this and the rest to a later sweep.
            ScheduledAction.objects.filter(pk=action_id).update(enqueued_at=None)
            break
        queued += 1
    return queued
