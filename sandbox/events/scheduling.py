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

Each kind runs through a Celery task its handler names, and so on that task's queue
(settings.CELERY_TASK_ROUTES): bank work on the bank queue, webhook attempts on the webhook
queue, so that neither waits behind the other. The sweep queues each task's actions with
a budget of its own for the same reason. A handler that cannot run yet (a webhook endpoint
with every slot taken) raises ``Deferred``: the action goes back to waiting, unharmed.

A kind may instead be run **by node** (``node_task``): what is due of it for a node is
queued as one message, ``node_task(node_id)``, whose task takes the node's due actions in
batches itself (webhook attempts: one endpoint's deliveries claimed, sent and recorded a
batch at a time). Its actions still run one by one through ``action_run`` when a test
clock advances.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from sandbox import writebehind
from sandbox.clock import now as clock_now
from sandbox.db.postgresql.prepared import prepared
from sandbox.events import queue
from sandbox.events.models import ClockAttachment, PlatformClock, ScheduledAction, TestClock
from sandbox.tenants.models import Node, Tenant

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
REENQUEUE_AFTER = timedelta(seconds=60)
# An action due this soon on a node whose time is real time is queued at once, to run when
# due (a countdown), instead of waiting for the sweep: a bank answers on time, not up to a
# sweep interval late. The sweep stays the safety net (it skips what is queued).
ETA_HORIZON = timedelta(seconds=55)
MAX_RUNS = 5  # a handler that keeps raising is retried this often, then marked failed
RUN_ACTION_TASK = "events.run_scheduled_action"
SWEEP_TASK = "events.sweep_due_actions"
DELIVER_WEBHOOK_TASK = "events.deliver_webhook"
DELIVER_ENDPOINT_TASK = "events.deliver_endpoint_webhooks"


@dataclass(frozen=True)
class Handler:
    func: Callable[[ScheduledAction], Any]
    atomic: bool
    task: str
    node_task: str | None


_HANDLERS: dict[str, Handler] = {}


class Deferred(Exception):
    """Raised by a handler that cannot run yet: the action waits ``seconds`` (real time)
    and is queued again; the run does not count as a failure."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason)
        self.seconds = seconds


def handler(
    kind: str,
    *,
    atomic: bool = True,
    task: str = RUN_ACTION_TASK,
    node_task: str | None = None,
):
    """Register ``func(action)`` for ``kind``. Use ``atomic=False`` for handlers that do slow
    I/O (HTTP) and must not hold a transaction open; they manage their own. ``task`` is the
    Celery task that runs the kind's actions (its route picks the queue); with
    ``node_task``, due actions are queued as that task with a node's id instead, once per
    node (module docstring)."""

    def decorator(func):
        _HANDLERS[kind] = Handler(func=func, atomic=atomic, task=task, node_task=node_task)
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
    registered = _HANDLERS.get(kind)
    if registered is None:
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
    node_now = clock_now(node_id=node.pk if node is not None else None)
    countdown: float | None = None
    if due_at <= node_now:
        pass  # already due: run it soon after commit instead of waiting for the next sweep
    elif due_at - node_now <= ETA_HORIZON and _runs_in_real_time(node):
        countdown = (due_at - node_now).total_seconds()
    else:
        return action
    if registered.node_task is not None and node is not None:
        node_task, node_id = registered.node_task, str(node.pk)
        transaction.on_commit(
            lambda: queue.enqueue(node_task, node_id, countdown=countdown), robust=True
        )
    else:
        transaction.on_commit(
            lambda: dispatch([action.pk], kinds={action.pk: kind}, countdown=countdown),
            robust=True,
        )
    return action


def _runs_in_real_time(node: Node | None) -> bool:
    """The node's time moves with real time (no test clock, platform clock not stopped),
    so seconds from now on its clock are seconds of countdown. Eager Celery (tests) has no
    countdown: there the sweep runs what is due."""
    if queue.app.conf.task_always_eager:
        return False
    if node is not None and ClockAttachment.objects.filter(node=node).exists():
        return False
    return not PlatformClock.objects.filter(frozen_time__isnull=False).exists()


@dataclass(frozen=True)
class NewAction:
    node: Node
    due_at: datetime
    payload: dict[str, Any]
    key: str


def schedule_new(*, kind: str, actions: list[NewAction]) -> list[ScheduledAction]:
    """``schedule()`` for many actions of one kind whose keys are new (the caller just made
    what they are keyed on): one INSERT, and those already due queued after commit with one
    UPDATE for them all, not one each (the outbox relay makes 10,000 at once). A kind run
    by node gets one message per node with due actions, however many it has: its task
    takes them in batches, and one node's backlog never fills the queue in front of
    another's."""
    registered = _HANDLERS.get(kind)
    if registered is None:
        raise ValueError(f"No handler is registered for scheduled actions of kind {kind!r}.")
    node_times: dict[Any, datetime] = {}
    for new in actions:
        if new.node.pk not in node_times:
            node_times[new.node.pk] = clock_now(node_id=new.node.pk)
    rows = ScheduledAction.objects.bulk_create(
        ScheduledAction(
            tenant_id=new.node.tenant_id,
            node=new.node,
            kind=kind,
            key=new.key,
            payload=new.payload,
            due_at=new.due_at,
        )
        for new in actions
    )
    due = [row for row in rows if row.due_at <= node_times[row.node_id]]
    node_task = registered.node_task
    if due and node_task is not None:
        nodes = list(dict.fromkeys(str(row.node_id) for row in due))
        transaction.on_commit(lambda: _publish_nodes(node_task, nodes), robust=True)
    elif due:
        ids = [row.pk for row in due]
        transaction.on_commit(lambda: _publish(registered.task, ids), robust=True)
    return rows


def _publish_nodes(node_task: str, node_ids: list[str]) -> None:
    """Queue a node task for each node; if the broker is down, the sweep queues them."""
    for node_id in node_ids:
        if not queue.enqueue(node_task, node_id):
            return


def _publish(task: str, action_ids: list[int]) -> None:
    """Mark new actions queued and queue them; if the broker is down, unmark what was not
    sent (the sweep takes it). A sweep queueing one of them too meanwhile costs a message
    that finds the action claimed, nothing more."""
    ScheduledAction.objects.filter(pk__in=action_ids, enqueued_at__isnull=True).update(
        enqueued_at=timezone.now()
    )
    for sent, action_id in enumerate(action_ids):
        if not queue.enqueue(task, action_id):
            ScheduledAction.objects.filter(pk__in=action_ids[sent:]).update(enqueued_at=None)
            return


def cancel(*, kind: str, key: str) -> bool:
    """Cancel a pending action; False if it already ran, runs, or never existed."""
    return (
        ScheduledAction.objects.filter(
            kind=kind, key=key, status=ScheduledAction.Status.PENDING
        ).update(status=ScheduledAction.Status.CANCELLED, finished_at=timezone.now())
        == 1
    )


_CANCEL_SQL = prepared(
    "schedule_cancel",
    f"UPDATE {ScheduledAction._meta.db_table} SET status = %(cancelled)s, finished_at = %(now)s"
    " WHERE kind = %(kind)s AND key = %(key)s AND status = %(pending)s",
)


def cancel_later(*, kind: str, key: str) -> None:
    """``cancel`` for a caller that does not ask whether it cancelled: the same UPDATE,
    which on PostgreSQL goes with the transaction's next statement (``sandbox.writebehind``,
    inside a ledger transaction) instead of a round trip of its own."""
    if connection.vendor != "postgresql":
        cancel(kind=kind, key=key)
        return
    params = {
        "cancelled": ScheduledAction.Status.CANCELLED.value,
        "now": timezone.now(),
        "kind": kind,
        "key": key,
        "pending": ScheduledAction.Status.PENDING.value,
    }
    writebehind.write(_CANCEL_SQL, params)


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


def action_run(*, action_id: int, only_if_due: bool = False) -> bool:
    """Run one action if it can be claimed; False when another process has it or it is
    finished. Safe to call twice, from anywhere. ``only_if_due``: a countdown ran out, but
    the node's clock may have been stopped since; an action not due yet is left to the
    sweep."""
    if only_if_due and not _is_due(action_id):
        ScheduledAction.objects.filter(pk=action_id).update(enqueued_at=None)
        return False
    action = _claim(action_id)
    if action is None:
        return False
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
    except Deferred as deferred:
        defer(action_id=action.pk, seconds=deferred.seconds)
    except Exception as exc:
        logger.exception("Scheduled action %s (%s) failed", action.pk, action.kind)
        _after_failure(action, exc)
    return True


def _claim(action_id: int) -> ScheduledAction | None:
    """Claim the action (running, under a lease) and load it with its node; None if it
    is not claimable."""
    real_now = timezone.now()
    if connection.vendor == "postgresql":
        return _claim_in_one_statement(action_id, real_now)
    claimed = ScheduledAction.objects.filter(_claimable(real_now), pk=action_id).update(
        status=ScheduledAction.Status.RUNNING,
        lease_until=real_now + LEASE,
        run_count=F("run_count") + 1,
    )
    if claimed != 1:
        return None
    return ScheduledAction.objects.select_related("node").get(pk=action_id)


def _columns(model: Any, alias: str) -> tuple[list[str], str]:
    fields = model._meta.concrete_fields
    return [f.attname for f in fields], ", ".join(
        f"{alias}.{f.column}::text"
        if f.get_internal_type() == "JSONField"
        else f"{alias}.{f.column}"
        for f in fields
    )


_ACTION_FIELDS, _ACTION_COLUMNS = _columns(ScheduledAction, "c")
_NODE_FIELDS, _NODE_COLUMNS = _columns(Node, "n")
_JSON_FIELDS = {
    model: {f.attname for f in model._meta.concrete_fields if f.get_internal_type() == "JSONField"}
    for model in (ScheduledAction, Node)
}
# The claim and the read of the action and its node in one round trip (every webhook
# attempt and bank action starts here).
_CLAIM_SQL = f"""
WITH c AS (
    UPDATE events_scheduledaction
    SET status = 'running', lease_until = %(lease_until)s, run_count = run_count + 1
    WHERE id = %(id)s
        AND (status = 'pending' OR (status = 'running' AND lease_until < %(real_now)s))
    RETURNING *
)
SELECT {_ACTION_COLUMNS}, {_NODE_COLUMNS} FROM c LEFT JOIN tenants_node n ON n.id = c.node_id
"""


def _claim_in_one_statement(action_id: int, real_now: datetime) -> ScheduledAction | None:
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {"id": action_id, "real_now": real_now, "lease_until": real_now + LEASE},
        )
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_ACTION_FIELDS)
    action = _from_row(ScheduledAction, _ACTION_FIELDS, row[:split])
    if action.node_id is not None:
        action._state.fields_cache["node"] = _from_row(Node, _NODE_FIELDS, row[split:])
    return action


def _from_row(model: Any, fields: list[str], values: Any) -> Any:
    json_fields = _JSON_FIELDS[model]
    values = [
        json.loads(v) if name in json_fields and v is not None else v
        for name, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, fields, values)


def defer(*, action_id: int, seconds: float) -> None:
    """Give a claimed action back: pending again, not counted as a run, and left out of
    sweeps for ``seconds`` of real time. It stays due, so a test clock's time is untouched.
    (The sweep skips actions queued within REENQUEUE_AFTER: marking it queued that long
    ago, less ``seconds``, makes it eligible again after ``seconds``.)"""
    seconds = min(max(seconds, 0.0), REENQUEUE_AFTER.total_seconds())
    real_now = timezone.now()
    ScheduledAction.objects.filter(pk=action_id, status=ScheduledAction.Status.RUNNING).update(
        status=ScheduledAction.Status.PENDING,
        lease_until=None,
        run_count=F("run_count") - 1,
        enqueued_at=real_now - REENQUEUE_AFTER + timedelta(seconds=seconds),
    )


def _is_due(action_id: int) -> bool:
    row = ScheduledAction.objects.filter(pk=action_id).values_list("due_at", "node_id").first()
    return row is not None and row[0] <= clock_now(node_id=row[1])


def _finish(action: ScheduledAction, status: str, error: str = "") -> None:
    ScheduledAction.objects.filter(pk=action.pk, status=ScheduledAction.Status.RUNNING).update(
        status=status, finished_at=timezone.now(), lease_until=None, last_error=error
    )


def mark_done(action_ids: list[int]) -> None:
    """Mark claimed actions done whose work was done by a node task (a batch's)."""
    ScheduledAction.objects.filter(pk__in=action_ids, status=ScheduledAction.Status.RUNNING).update(
        status=ScheduledAction.Status.DONE, finished_at=timezone.now(), lease_until=None
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


def _not_queued(real_now: datetime) -> Q:
    return Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=real_now - REENQUEUE_AFTER)


def sweep(*, limit: int = 500) -> int:
    """Queue every due action (beat calls this every few seconds); returns how many.

    Each task (each queue) gets its own ``limit``, so thousands of due webhook attempts
    never keep a bank action out of the sweep; a kind run by node queues one message per
    node with due actions (at most ``limit`` nodes), however many each has."""
    queued = 0
    for (_, node_task), kinds in _kinds_by_task().items():
        due = due_on_real_time().filter(_not_queued(timezone.now()), kind__in=kinds)
        if node_task is not None:
            nodes = due.filter(node__isnull=False).order_by().values_list("node_id", flat=True)
            node_ids = [str(node_id) for node_id in nodes.distinct()[:limit]]
            _publish_nodes(node_task, node_ids)
            queued += len(node_ids)
            continue
        queued += dispatch(due.order_by("due_at", "pk").values_list("pk", flat=True)[:limit])
    return queued


def _kinds_by_task() -> dict[tuple[str, str | None], list[str]]:
    kinds: dict[tuple[str, str | None], list[str]] = {}
    for kind, registered in sorted(_HANDLERS.items()):
        kinds.setdefault((registered.task, registered.node_task), []).append(kind)
    return kinds


def dispatch(
    action_ids: Iterable[int],
    *,
    kinds: dict[int, str] | None = None,
    countdown: float | None = None,
) -> int:
    """Hand actions to Celery, each to its kind's task (and so its queue), to run at once
    or, with ``countdown``, when due. An action queued in the last minute is not queued
    again; if the broker is down the action stays pending in the database for the next
    sweep."""
    ids = list(action_ids)
    if not ids:
        return 0
    if kinds is None:
        kinds = dict(ScheduledAction.objects.filter(pk__in=ids).values_list("pk", "kind"))
    queued = 0
    for action_id in ids:
        real_now = timezone.now()
        marked = ScheduledAction.objects.filter(
            _claimable(real_now), _not_queued(real_now), pk=action_id
        ).update(enqueued_at=real_now)
        if not marked:
            continue
        registered = _HANDLERS.get(kinds.get(action_id, ""))
        task = registered.task if registered is not None else RUN_ACTION_TASK
        args = (action_id, True) if countdown else (action_id,)
        if not queue.enqueue(task, *args, countdown=countdown):
            # The broker is down: leave this and the rest to a later sweep.
            ScheduledAction.objects.filter(pk=action_id).update(enqueued_at=None)
            break
        queued += 1
    return queued
