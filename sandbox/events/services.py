"""Writes for events and webhooks: record an event (the outbox), relay the outbox into
webhook deliveries, manage a node's webhook secrets, resend an event."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from sandbox import writebehind
from sandbox.celery import app as celery_app
from sandbox.clock import now as clock_now
from sandbox.db.arrays import text_array
from sandbox.db.postgresql.prepared import prepared
from sandbox.errors import ApplicationError, Conflict
from sandbox.events import queue, scheduling
from sandbox.events.models import (
    Event,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
    epoch_microseconds,
)
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor, audit_record

logger = logging.getLogger(__name__)

RETRY_WINDOW = timedelta(days=3)
MAX_SECRET_OVERLAP = timedelta(days=7)
SECRET_PREFIX = "whsec_"
RELAY_BATCH = 200


# --- Events (the outbox) ---------------------------------------------------------------------


def event_record(
    *,
    tenant: Tenant | None,
    node: Node | None,
    type: str,
    obj: models.Model | None = None,
    data: dict[str, Any] | None = None,
    object_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Record that something happened, in the caller's transaction.

    Call it inside the ``transaction.atomic()`` block that makes the change: the event then
    exists exactly when the change does. After commit the relay is nudged; if the broker is
    down, the event waits in the table for the beat relay. ``object_id`` replaces the
    object's primary key where the API knows it by another id (a ledger transaction's uuid).
    ``occurred_at``: the node's time, for a caller that read the node's clock in this
    transaction already (else it is read here).
    """
    _require_transaction("event_record()")
    if tenant is None:
        if node is None:
            raise ValueError("An event belongs to a tenant or a node.")
        tenant = node.tenant
    if node is not None and node.tenant_id != tenant.pk:
        raise ValueError("The node belongs to another tenant.")
    data = data or {}
    json.dumps(data, cls=DjangoJSONEncoder)  # fail here, in the caller, not in the relay
    event = Event(
        **_event_values(
            tenant_id=tenant.pk,
            node_id=node.pk if node is not None else None,
            type=type,
            obj=obj,
            object_id=object_id,
            data=data,
            occurred_at=occurred_at or clock_now(node_id=node.pk if node is not None else None),
        )
    )
    event.tenant, event.node = tenant, node  # as Event.objects.create(tenant=…, node=…) left them
    event.save(force_insert=True)
    _nudge_relay_on_commit()
    return event


def action_record(
    *,
    actor: Actor,
    action: str,
    tenant: Tenant | None,
    obj: models.Model,
    data: dict[str, Any],
    node: Node | None = None,
    event_type: str | None = None,
    audit_data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Someone did something to ``obj``: the audit entry (who, from where) and the event
    (what webhooks carry), written together in the caller's transaction.

    ``data`` is the object as the API shows it (its presenter's output); ``event_type``
    defaults to ``action``; ``audit_data`` is what the audit log keeps (nothing by default:
    the event already holds the object); ``occurred_at`` as for ``event_record``."""
    audit_record(actor=actor, action=action, tenant=tenant, target=obj, data=audit_data)
    return event_record(
        tenant=tenant,
        node=node,
        type=event_type or action,
        obj=obj,
        data=data,
        occurred_at=occurred_at,
    )


@dataclass(frozen=True)
class NewEvent:
    """One event for ``events_record``: what ``event_record`` takes, for a node given by
    its id and its tenant's (a caller that read them with its own rows builds no model),
    and the node's time if the caller already read the node's clock."""

    node_id: Any
    tenant_id: Any
    type: str
    obj: models.Model | None = None
    data: dict[str, Any] = field(default_factory=dict)
    object_id: str | None = None
    occurred_at: datetime | None = None  # None: read the node's clock here


def events_record(events: Sequence[NewEvent]) -> None:
    """``event_record`` for many events at once (a bulk of 8,000 transfers, or the one or
    two of a single transfer): the same rows, written with one INSERT, and the node's time
    read once per node unless given. The data is not test-encoded first: a value JSON
    cannot hold fails the INSERT, still in the caller."""
    connection = transaction.get_connection()  # one look-up of the thread's connection
    _require_transaction("events_record()", connection)
    if not events:
        return
    node_times: dict[Any, Any] = {}
    rows = []
    for new in events:
        occurred_at = new.occurred_at
        if occurred_at is None:
            if new.node_id not in node_times:
                node_times[new.node_id] = clock_now(node_id=new.node_id)
            occurred_at = node_times[new.node_id]
        rows.append(
            _event_values(
                tenant_id=new.tenant_id,
                node_id=new.node_id,
                type=new.type,
                obj=new.obj,
                object_id=new.object_id,
                data=new.data,
                occurred_at=occurred_at,
            )
        )
    if connection.vendor == "postgresql":
        _insert_postgresql(connection, rows)
    else:  # SQLite's bound on parameters splits this into a few INSERTs
        Event.objects.bulk_create([Event(**row) for row in rows])
    _nudge_relay_on_commit(connection)


def events_insert(sql: str, params: dict[str, Any], *, count: int) -> None:
    """Record events with the caller's own ``INSERT INTO events_event ... SELECT`` (on
    PostgreSQL), for a caller whose payloads PostgreSQL can build from rows it has just
    written: a bulk's 16,000 payloads then never travel as JSON text, nor are they built in
    Python. The statement writes the columns ``events_record`` writes, the same way (the
    id ``events_event_id`` of ``created_at``, ``created_at`` increasing in the order recorded). Like
    ``events_record`` it runs in the caller's transaction, with its next statement, and
    nudges the relay after commit. ``count``: how many events it writes (at most)."""
    _require_transaction("events_insert()")
    _room_for_new_events(count)
    writebehind.write(sql, params)
    _nudge_relay_on_commit()


# The new rows of an INSERT into events_event are kept for its statement trigger
# (``events_event_references``, migration 0005, ``REFERENCING NEW TABLE``) in a tuplestore
# that PostgreSQL bounds by ``work_mem``, whole rows with their data: about 0.85 kB per
# event as PostgreSQL counts it, so a bulk's 16,000 events (13 MB) spilled past the
# default 4 MB to a temporary file, written and read back (about 4 % of the statement's
# CPU). A large INSERT therefore raises ``work_mem`` for the rest of its transaction (it is
# among the transaction's last statements) to room for ``ROOM_PER_EVENT_KB`` per event, never
# below what is set. Only memory the tuplestore takes is used; a larger payload spills as
# before, correctly. At most ``ROOM_MOST_KB``: a sort or hash of the transaction may take
# as much again (``hash_mem_multiplier``), and a bigger batch may as well spill.
ROOM_PER_EVENT_KB = 2
ROOM_MOST_KB = 64 * 1024  # a bulk's 16,000 events take 32 MB
_ROOM_ABOVE = 2048  # events: the default 4 MB holds fewer with room to spare
_ROOM_SQL = (
    "SELECT set_config('work_mem', greatest(pg_size_bytes(current_setting('work_mem')) / 1024,"
    " %s)::text || 'kB', true)"
)


def _room_for_new_events(count: int) -> None:
    if count > _ROOM_ABOVE:
        writebehind.write(_ROOM_SQL, [min(count * ROOM_PER_EVENT_KB, ROOM_MOST_KB)])


# ``created_at`` a microsecond apart, in the order given: lists and the relay order events
# by it, and so these keep the order in which they were recorded (as one INSERT per event
# did). The id is made from it (``events_event_id``, migration 0006: time-ordered). The
# data goes once per distinct payload (a transfer's two events share theirs), each parsed
# once; ``data_n`` gives each event's.
_INSERT_EVENTS_SQL = prepared(
    "record_events",
    """
INSERT INTO events_event
       (id, tenant_id, node_id, type, object_type, object_id, data, occurred_at, created_at)
SELECT events_event_id(%(created_us)s::bigint + e.n - 1),
       e.tenant, e.node, e.type, e.object_type, e.object_id, d.data[e.data_n], e.occurred_at,
       %(created_at)s::timestamptz + (e.n - 1) * interval '1 microsecond'
  FROM (SELECT %(data)s::jsonb[] AS data) AS d,
       unnest(%(tenant_id)s::uuid[], %(node_id)s::uuid[], %(type)s::varchar[],
              %(object_type)s::varchar[], %(object_id)s::varchar[], %(data_n)s::int[],
              %(occurred_at)s::timestamptz[])
       WITH ORDINALITY
       AS e(tenant, node, type, object_type, object_id, data_n, occurred_at, n)
""",
)


# Stateless: one encoder serves every call (``DjangoJSONEncoder().encode`` built one each).
_ENCODE = DjangoJSONEncoder().encode


def _insert_postgresql(connection: Any, rows: list[dict[str, Any]]) -> None:
    # What bulk_create would write, in one statement whose arrays go as literal strings:
    # psycopg quoting 8,000 values one by one cost more than posting the transfers
    # (``wallets.posting._insert_postgresql`` does the same). No model instances either.
    # The ids are PostgreSQL's (``events_event_id``), time-ordered as the model's default.
    encode = _ENCODE
    columns: dict[str, list[str | None]] = defaultdict(list)
    as_text: dict[Any, str | None] = {None: None}  # tenants, nodes, times repeat in a batch
    # The events of one change share their data (one object): encoded and sent once, its
    # position (from 1) in ``payloads`` kept per id of the object, alive in ``rows`` until
    # the end.
    payloads: list[str | None] = []
    position: dict[int, str] = {}
    for row in rows:
        for name in ("tenant_id", "node_id", "occurred_at"):
            value = row[name]
            if value not in as_text:
                as_text[value] = value.isoformat() if isinstance(value, datetime) else str(value)
            columns[name].append(as_text[value])
        columns["type"].append(row["type"])
        columns["object_type"].append(row["object_type"])
        columns["object_id"].append(row["object_id"])
        data = row["data"]
        n = position.get(id(data))
        if n is None:
            payloads.append(encode(data))
            n = position[id(data)] = str(len(payloads))
        columns["data_n"].append(n)
    created_at = timezone.now()
    params: dict[str, Any] = {name: text_array(values) for name, values in columns.items()}
    params.update(
        data=text_array(payloads),
        created_at=created_at,
        created_us=epoch_microseconds(created_at),
    )
    # Nobody reads its result: inside a ledger transaction it goes with the next statement.
    _room_for_new_events(len(rows))
    writebehind.write(_INSERT_EVENTS_SQL, params)


def _require_transaction(name: str, connection: Any = None) -> None:
    if connection is None:
        connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError(f"{name} belongs inside the transaction that makes the change.")


def _event_values(
    *,
    tenant_id: Any,
    node_id: Any,
    type: str,
    obj: models.Model | None,
    object_id: str | None,
    data: dict[str, Any],
    occurred_at: datetime,
) -> dict[str, Any]:
    """The columns of a new event, for both writers (``id`` and ``created_at`` are the
    model's defaults)."""
    if object_id is None:
        object_id = str(obj.pk) if obj is not None else ""
    return {
        "tenant_id": tenant_id,
        "node_id": node_id,
        "type": type,
        "object_type": obj._meta.model_name if obj is not None else "",
        "object_id": object_id,
        "data": data,
        "occurred_at": occurred_at,
    }


# A nudge per committed transaction would publish one broker message per transfer: at
# hundreds of transfers a second, the busiest thing the broker does, for a relay that takes
# every pending event at once anyway. So a process nudges at most once per NUDGE_INTERVAL;
# an event committed just after a nudge goes with the next one, or with beat's relay (5 s).
NUDGE_INTERVAL = 0.5
RELAY_OUTBOX_TASK = "events.relay_outbox"
_last_nudge = -NUDGE_INTERVAL


def _nudge_relay() -> None:
    global _last_nudge
    now = time.monotonic()
    if now - _last_nudge < NUDGE_INTERVAL and not celery_app.conf.task_always_eager:
        return
    _last_nudge = now
    queue.enqueue(RELAY_OUTBOX_TASK)


def _nudge_relay_on_commit(connection: Any = None) -> None:
    # One nudge per transaction, however many events it records. (``connection``: the
    # caller's ``transaction.get_connection()``, not looked up again.)
    if connection is None:
        connection = transaction.get_connection()
    for entry in connection.run_on_commit:
        if entry[1] is _nudge_relay:
            return
    connection.on_commit(_nudge_relay, robust=True)  # what ``transaction.on_commit`` calls


def outbox_relay(*, batch: int = RELAY_BATCH) -> int:
    """Turn recorded events into webhook deliveries and queue their first attempts.

    Events are taken ``batch`` at a time, locked (``SKIP LOCKED``: two relays running at
    once take different events, never one twice), marked relayed, and their deliveries and
    first attempts written with one INSERT each, in one transaction. Returns how many
    events were relayed."""
    relayed = 0
    while True:
        with transaction.atomic():
            events = list(
                Event.objects.filter(relayed_at__isnull=True)
                .order_by("created_at", "pk")
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("node", "node__webhook_endpoint")[:batch]
            )
            if not events:
                return relayed
            Event.objects.filter(pk__in=[e.pk for e in events]).update(relayed_at=timezone.now())
            _deliveries_create([e for e in events if e.node is not None and _is_hooked(e.node)])
            relayed += len(events)
        if len(events) < batch:
            return relayed


def _is_hooked(node: Node) -> bool:
    """The node takes deliveries: active, with a URL, and its endpoint not disabled."""
    if not node.is_active or not node.webhook_url:
        return False
    try:
        return node.webhook_endpoint.disabled_at is None
    except WebhookEndpoint.DoesNotExist:
        return True


def _deliveries_create(events: list[Event]) -> None:
    """``_delivery_create`` for many events (each has a hooked node), in two INSERTs."""
    if not events:
        return
    node_times: dict[Any, datetime] = {}
    deliveries = []
    for event in events:
        node = event.node
        assert node is not None
        if node.pk not in node_times:
            node_times[node.pk] = clock_now(node_id=node.pk)
        deliveries.append(
            WebhookDelivery(
                tenant_id=event.tenant_id,
                node=node,
                event=event,
                url=node.webhook_url,
                next_attempt_at=node_times[node.pk],
                expires_at=node_times[node.pk] + RETRY_WINDOW,
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries)
    # Queued as one message per endpoint, whose task sends its backlog in batches
    # (sandbox.events.webhook_batches): one endpoint's backlog never queues before others.
    scheduling.schedule_new(
        kind="webhook.attempt",
        actions=[
            scheduling.NewAction(
                node=d.node,
                due_at=node_times[d.node.pk],
                payload={"delivery": str(d.pk), "attempt": 1},
                key=f"webhook:{d.pk}:1",
            )
            for d in deliveries
        ],
    )


def _delivery_create(
    *, event: Event, node: Node, is_manual: bool = False, triggered_by: str = ""
) -> WebhookDelivery:
    node_time = clock_now(node_id=node.pk)
    delivery = WebhookDelivery.objects.create(
        tenant=event.tenant,
        node=node,
        event=event,
        url=node.webhook_url,
        is_manual=is_manual,
        triggered_by=triggered_by,
        next_attempt_at=node_time,
        expires_at=node_time + RETRY_WINDOW,
    )
    scheduling.schedule(
        kind="webhook.attempt",
        node=node,
        due_at=node_time,
        payload={"delivery": str(delivery.pk), "attempt": 1},
        key=f"webhook:{delivery.pk}:1",
    )
    return delivery


@transaction.atomic
def event_resend(*, event: Event, actor: Actor, reason: str = "resend") -> WebhookDelivery:
    """Send a past event again to its node's current webhook URL: one attempt, recorded
    with who asked for it."""
    node = event.node
    if node is None:
        raise Conflict(
            "This event belongs to no node, so it has no webhook URL.", code="no_webhook"
        )
    node = Node.objects.select_related("webhook_endpoint").get(pk=node.pk)
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    if not node.webhook_url:
        raise Conflict("The node has no webhook URL.", code="no_webhook_url")
    if not _is_hooked(node):
        raise Conflict(
            "The node's webhook endpoint is disabled; enable it first.",
            code="webhook_endpoint_disabled",
        )
    delivery = _delivery_create(event=event, node=node, is_manual=True, triggered_by=actor.label)
    audit_record(
        actor=actor,
        action=f"event.{reason}",
        tenant=event.tenant,
        target=event,
        data={"delivery": str(delivery.pk), "type": event.type},
    )
    return delivery


# --- Webhook secrets -------------------------------------------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_secret_current(*, node: Node) -> WebhookSecret:
    """The node's current secret, created on first use."""
    current = WebhookSecret.objects.filter(node=node, expires_at__isnull=True).first()
    if current is not None:
        return current
    with transaction.atomic():
        Node.objects.select_for_update().filter(pk=node.pk).first()
        current = WebhookSecret.objects.filter(node=node, expires_at__isnull=True).first()
        return current or WebhookSecret.objects.create(node=node, secret=_new_secret())


def webhook_secrets_live(*, node: Node) -> list[WebhookSecret]:
    """Every secret a delivery is signed with now: the current one first, then those still
    in their overlap period. Overlap is real time, not clock time: it protects receivers."""
    # One query for every attempt (the webhook worker's hot path); the current secret is
    # created only on first use.
    live = WebhookSecret.objects.filter(node=node).filter(
        models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
    )
    expiring = sorted(
        (s for s in live if s.expires_at is not None), key=lambda s: s.created_at, reverse=True
    )
    current = next((s for s in live if s.expires_at is None), None)
    return [current or webhook_secret_current(node=node), *expiring]


def _invalid_overlap() -> ApplicationError:
    return ApplicationError(
        "The overlap is between 0 seconds and 7 days.",
        code="invalid_overlap",
        fields={"overlap_seconds": ["Between 0 and 604800."]},
    )


def secret_overlap(seconds: int) -> timedelta:
    """An overlap given in seconds by a client, checked before it becomes a ``timedelta``
    (which overflows, a 500, past about 10**14 days)."""
    if not 0 <= seconds <= MAX_SECRET_OVERLAP.total_seconds():
        raise _invalid_overlap()
    return timedelta(seconds=seconds)


@transaction.atomic
def webhook_secret_rotate(*, node: Node, actor: Actor, overlap: timedelta) -> WebhookSecret:
    """Issue a new secret; the old one keeps signing deliveries for ``overlap`` (at most
    seven days, zero to cut it at once)."""
    if overlap < timedelta(0) or overlap > MAX_SECRET_OVERLAP:
        raise _invalid_overlap()
    node = Node.objects.select_for_update().get(pk=node.pk)
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    real_now = timezone.now()
    WebhookSecret.objects.filter(node=node, expires_at__isnull=True).update(
        expires_at=real_now + overlap
    )
    # Older secrets still overlapping end no later than the one just replaced.
    WebhookSecret.objects.filter(node=node, expires_at__gt=real_now + overlap).update(
        expires_at=real_now + overlap
    )
    secret = WebhookSecret.objects.create(node=node, secret=_new_secret())
    audit_record(
        actor=actor,
        action="webhook_secret.rotated",
        tenant=node.tenant,
        target=node,
        data={"overlap_seconds": int(overlap.total_seconds())},
    )
    return secret


# --- Webhook endpoints -----------------------------------------------------------------------


def endpoint_as_json(node: Node) -> dict[str, Any]:
    """A node's webhook endpoint as the API, its events and the dashboard show it."""
    try:
        endpoint: WebhookEndpoint | None = node.webhook_endpoint
    except WebhookEndpoint.DoesNotExist:
        endpoint = None
    failing_since = endpoint.failing_since if endpoint is not None else None
    disabled_at = endpoint.disabled_at if endpoint is not None else None
    return {
        "object": "webhook_endpoint",
        "node": str(node.pk),
        "url": node.webhook_url,
        "status": "disabled" if disabled_at is not None else "enabled",
        "failing_since": failing_since.isoformat() if failing_since else None,
        "disabled_at": disabled_at.isoformat() if disabled_at else None,
    }


@transaction.atomic
def webhook_endpoint_enable(*, node: Node, actor: Actor) -> Node:
    """Deliver to a disabled endpoint again (its failures are forgotten), with a
    webhook_endpoint.enabled event. Enabling an enabled endpoint changes nothing."""
    node = Node.objects.select_for_update().get(pk=node.pk)
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    enabled = WebhookEndpoint.objects.filter(node=node, disabled_at__isnull=False).update(
        disabled_at=None, failing_since=None
    )
    node = Node.objects.select_related("webhook_endpoint").get(pk=node.pk)
    if enabled:
        action_record(
            actor=actor,
            action="webhook_endpoint.enabled",
            tenant=node.tenant,
            node=node,
            obj=node,
            data=endpoint_as_json(node),
        )
    return node
