"""Webhook attempts in batches, one endpoint at a time (issue 12): how the webhook queue
sends in real time.

A task for one node (``events.deliver_endpoint_webhooks``) takes some of the endpoint's
slots, then loops: claim that many due attempts in one statement (``FOR UPDATE SKIP
LOCKED``: two tasks on one endpoint take different attempts), send them at once on the
process's connection pools, record every attempt, the deliveries' new states, the retries
and the actions' "done" marks in one statement, and claim again, until nothing is due or
its time budget is spent (then it queues itself again, behind other endpoints' tasks).
So an attempt costs two statements' share of a batch instead of four statements, and one
broker message serves a whole backlog.

Batches are one endpoint's, so a batch waits only on its own receiver: a slow one holds
its own slots and a worker thread, never another endpoint's attempts. A task takes at most
half an endpoint's slots, so two tasks keep a quick endpoint busy in turn while the other
talks to the database.

The rules are those of a single attempt (``sandbox.events.webhooks``): the same headers,
body, signature, stored attempt, backoff and disabling. A worker that dies mid-batch
leaves its attempts claimed; once their lease is over the next claim takes them again
and records each one as lost, then retries it (at least once: the receiver may have seen
it).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from sandbox.events import queue, scheduling
from sandbox.events.models import WebhookDelivery
from sandbox.events.signing import signature_header
from sandbox.events.slots import endpoint_slots
from sandbox.events.webhooks import (
    EVENT_COLUMNS,
    NODE_COLUMNS,
    SLOT_MARGIN_SECONDS,
    NodeClock,
    Outcome,
    attempt_outcome,
    delivery_changes,
    delivery_from_row,
    endpoint_health,
    endpoint_of,
    event_body,
    node_from_row,
    request_headers,
    resolve,
    send_to,
    webhook_attempt,
)
from sandbox.tenants.models import Node

# A task sends batches for about this long, then queues itself again (fair to the others).
BUDGET_SECONDS = 5.0
# Requests in flight at once per process, beyond the one each batch's own thread sends:
# enough for every worker thread's batch (32 threads in production, 5 each), so a batch
# never waits for another's thread.
SEND_THREADS = 160


def batch_size() -> int:
    return max(1, math.ceil(settings.SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY / 2))


def endpoint_deliver_due(*, node_id: str) -> int:
    """Send the node's due webhook attempts, a batch at a time (module docstring); how
    many attempts were made. Safe to run twice and from several workers at once."""
    if connection.vendor != "postgresql":
        return _one_by_one(node_id)
    slots, endpoint = endpoint_slots(), str(node_id)
    limit = settings.SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY
    ttl = settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS + SLOT_MARGIN_SECONDS
    started, made = time.monotonic(), 0
    while True:
        holders = [f"batch:{uuid.uuid4().hex}:{i}" for i in range(batch_size())]
        granted = slots.acquire_many(endpoint, holders, limit=limit, ttl=ttl)
        if not granted:
            return made  # the tasks holding the slots go on with what is due
        try:
            claimed = _deliver_batch(node_id, granted)
        finally:
            slots.release(endpoint, *holders[:granted])
        made += claimed
        if claimed < granted:
            return made  # nothing more is due
        if time.monotonic() - started >= BUDGET_SECONDS:
            if not queue.app.conf.task_always_eager:  # eager: the sweep runs the rest
                queue.enqueue(scheduling.DELIVER_ENDPOINT_TASK, str(node_id))
            return made


def _one_by_one(node_id: str) -> int:
    """Without PostgreSQL (SQLite, one worker): the due attempts one at a time."""
    due = scheduling.due_on_real_time().filter(kind="webhook.attempt", node_id=node_id)
    made = 0
    for action_id in due.order_by("due_at", "pk").values_list("pk", flat=True)[:100]:
        made += scheduling.action_run(action_id=action_id)
    return made


@dataclass(frozen=True)
class Batch:
    node: Node  # with its endpoint
    secrets: list[str]
    clock: NodeClock
    claims: list[tuple[int, WebhookDelivery]]  # (action, delivery with its event)
    unclaimed: list[tuple[int, str, int]]  # (action, delivery id, attempt number)


def _deliver_batch(node_id: str, count: int) -> int:
    """Claim up to ``count`` due attempts, send and record them; how many were claimed."""
    batch = _claim_batch(node_id, count)
    if batch is None:
        return 0
    for action_id, delivery_id, number in batch.unclaimed:
        # Claimed before by a worker that died (recorded as lost now), or its delivery is
        # over already: nothing to send either way.
        webhook_attempt(delivery_id=delivery_id, number=number)
        scheduling.mark_done([action_id])
    if batch.claims:
        _record_batch(batch, _send_batch(batch))
    return len(batch.claims) + len(batch.unclaimed)


# Up to %(count)s of the node's due attempts (due as scheduling.due_on_real_time says) with
# their actions marked running under a lease, their deliveries moved to the attempt's
# number, and everything the requests need: events, node, endpoint, secrets, clocks. The
# candidates come from the index of a node's pending actions (and the few running ones
# whose lease ran out), a few batches' worth, so that a second task on the endpoint skips
# the rows the first has locked and still finds a batch.
_CLAIM_BATCH_SQL = f"""
WITH candidates AS (
    (SELECT id FROM events_scheduledaction
        WHERE node_id = %(node)s AND kind = 'webhook.attempt' AND status = 'pending'
        ORDER BY due_at LIMIT %(candidates)s)
    UNION ALL
    (SELECT id FROM events_scheduledaction
        WHERE node_id = %(node)s AND kind = 'webhook.attempt' AND status = 'running'
            AND lease_until < %(real_now)s
        LIMIT %(candidates)s)
), due AS (
    SELECT a.id FROM events_scheduledaction a
    LEFT JOIN events_clockattachment ca ON ca.node_id = a.node_id
    LEFT JOIN events_testclock t ON t.id = ca.clock_id
    WHERE a.id IN (SELECT id FROM candidates)
        AND (a.status = 'pending' OR (a.status = 'running' AND a.lease_until < %(real_now)s))
        AND (
            (ca.node_id IS NULL AND a.due_at <= COALESCE(
                (SELECT frozen_time FROM events_platformclock WHERE id = 1),
                %(real_now)s + make_interval(secs => COALESCE(
                    (SELECT offset_seconds FROM events_platformclock WHERE id = 1), 0))
            ))
            OR (t.status = 'ready' AND a.due_at <= t.frozen_time)
        )
    ORDER BY a.due_at, a.id
    LIMIT %(count)s
    FOR UPDATE OF a SKIP LOCKED
), actions AS (
    UPDATE events_scheduledaction s
    SET status = 'running', lease_until = %(lease_until)s, run_count = s.run_count + 1
    FROM due WHERE s.id = due.id
    RETURNING s.id, s.due_at, (s.payload->>'delivery')::uuid AS delivery_id,
        (s.payload->>'attempt')::int AS number
), claimed AS (
    UPDATE events_webhookdelivery d SET attempt_count = a.number
    FROM actions a
    WHERE d.id = a.delivery_id AND d.status = 'pending' AND d.attempt_count = a.number - 1
    RETURNING d.id, d.tenant_id, d.event_id, d.url, d.is_manual, d.expires_at
), node AS (
    SELECT {NODE_COLUMNS}
    FROM tenants_node n
    LEFT JOIN events_webhookendpoint w ON w.node_id = n.id
    LEFT JOIN events_platformclock p ON p.id = 1
    WHERE n.id = %(node)s
)
SELECT a.id, a.delivery_id, a.number,
    c.id, c.tenant_id, c.event_id, c.url, c.is_manual, c.expires_at, {EVENT_COLUMNS}, node.*
FROM actions a
CROSS JOIN node
LEFT JOIN claimed c ON c.id = a.delivery_id
LEFT JOIN events_event e ON e.id = c.event_id
ORDER BY a.due_at, a.id
"""


def _claim_batch(node_id: str, count: int) -> Batch | None:
    real_now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_BATCH_SQL,
            {
                "node": node_id,
                "count": count,
                "candidates": count * 4,
                "real_now": real_now,
                "lease_until": real_now + scheduling.LEASE,
            },
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    node, secrets, clock = node_from_row(node_id, rows[0][17:29])
    claims, unclaimed = [], []
    for row in rows:
        action_id, delivery_id, number = row[0:3]
        if row[3] is None:
            unclaimed.append((action_id, str(delivery_id), number))
        else:
            claims.append((action_id, delivery_from_row(node, number, row[3:9], row[9:17])))
    return Batch(node, secrets, clock, claims, unclaimed)


def _send_batch(batch: Batch) -> list[tuple[Outcome, float]]:
    """Each claimed attempt's outcome and when it ended (real time), in claim order: sent
    at once to the address its URL resolves to now, or failed without a request."""
    node = batch.node
    refused = attempt_outcome(node=node, endpoint=endpoint_of(node))
    if refused is not None:
        return [(refused, time.time())] * len(batch.claims)
    target = resolve(node.webhook_url)
    if isinstance(target, Outcome):
        outcomes = [(target, time.time())] * len(batch.claims)
    else:
        timestamp = int(time.time())
        requests = []
        for _, delivery in batch.claims:
            body = event_body(delivery.event)
            signature = signature_header(batch.secrets, timestamp, body)
            headers = request_headers(
                delivery=delivery, number=delivery.attempt_count, signature=signature
            )
            requests.append((body, headers))
        outcomes = _send_concurrently(target, requests)
    endpoint_health(node=node, succeeded=any(o.succeeded for o, _ in outcomes), clock=batch.clock)
    return outcomes


# Every attempt of a batch stored, each delivery's new state (if the attempt is still its
# latest), the retries scheduled (as scheduling.schedule would: keyed, never twice) and
# the actions marked done: one statement, atomic by itself. An attempt already stored
# belongs to another worker: a batch that outran its lease, whose attempts a second claim
# recorded as lost and retried. Only that attempt's outcome is dropped (its retry sends it
# again: at least once); the rest of the batch is recorded.
_RECORD_BATCH_SQL = """
WITH o AS (
    SELECT * FROM unnest(
        %(action)s::bigint[], %(delivery)s::uuid[], %(number)s::int[],
        %(attempted_at)s::timestamptz[], %(clock_time)s::timestamptz[], %(url)s::text[],
        %(ip)s::inet[], %(status_code)s::int[], %(succeeded)s::bool[], %(latency)s::int[],
        %(excerpt)s::text[], %(error)s::text[], %(status)s::text[],
        %(completed_at)s::timestamptz[], %(next_at)s::timestamptz[]
    ) AS o(action, delivery, number, attempted_at, clock_time, url, ip, status_code,
        succeeded, latency, excerpt, error, status, completed_at, next_at)
), attempts AS (
    INSERT INTO events_webhookattempt (delivery_id, number, attempted_at, clock_time, url,
        ip_address, status_code, succeeded, latency_ms, response_excerpt, error)
    SELECT delivery, number, attempted_at, clock_time, url, ip, status_code, succeeded,
        latency, excerpt, error
    FROM o
    ON CONFLICT (delivery_id, number) DO NOTHING
    RETURNING delivery_id, number
), recorded AS (
    SELECT o.* FROM o JOIN attempts a ON a.delivery_id = o.delivery AND a.number = o.number
), deliveries AS (
    UPDATE events_webhookdelivery d SET last_status_code = o.status_code,
        last_error = o.error, status = o.status,
        completed_at = COALESCE(o.completed_at, d.completed_at), next_attempt_at = o.next_at
    FROM recorded o WHERE d.id = o.delivery AND d.attempt_count = o.number
), retries AS (
    INSERT INTO events_scheduledaction (tenant_id, node_id, kind, key, payload, due_at,
        status, run_count, last_error, created_at)
    SELECT %(tenant)s, %(node)s, 'webhook.attempt', 'webhook:' || o.delivery || ':' || o.number + 1,
        jsonb_build_object('delivery', o.delivery::text, 'attempt', o.number + 1),
        o.next_at, 'pending', 0, '', %(real_now)s
    FROM recorded o WHERE o.status = 'pending'
    ON CONFLICT (kind, key) WHERE key <> '' DO NOTHING
)
UPDATE events_scheduledaction s
SET status = 'done', finished_at = %(real_now)s, lease_until = NULL, last_error = ''
FROM recorded o WHERE s.id = o.action AND s.status = 'running'
"""


def _record_batch(batch: Batch, outcomes: list[tuple[Outcome, float]]) -> None:
    columns: dict[str, list[Any]] = defaultdict(list)
    for (action_id, delivery), (outcome, ended) in zip(batch.claims, outcomes, strict=True):
        node_time = batch.clock.now()
        number = delivery.attempt_count
        changes = delivery_changes(
            delivery=delivery, number=number, outcome=outcome, node_time=node_time
        )
        row = {
            "action": action_id,
            "delivery": delivery.pk,
            "number": number,
            "attempted_at": datetime.fromtimestamp(ended, UTC),
            "clock_time": node_time,
            "url": (batch.node.webhook_url or delivery.url)[:500],
            "ip": outcome.ip_address,
            "status_code": outcome.status_code,
            "succeeded": outcome.succeeded,
            "latency": outcome.latency_ms,
            "excerpt": outcome.excerpt,
            "error": outcome.error,
            "status": changes["status"],
            "completed_at": changes.get("completed_at"),
            "next_at": changes["next_attempt_at"],
        }
        for name, value in row.items():
            columns[name].append(value)
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_BATCH_SQL,
            {
                **columns,
                "tenant": batch.node.tenant_id,
                "node": batch.node.pk,
                "real_now": timezone.now(),
            },
        )


_sender: ThreadPoolExecutor | None = None
_sender_lock = threading.Lock()


def _send_threads() -> ThreadPoolExecutor:
    global _sender
    if _sender is None:
        with _sender_lock:
            if _sender is None:
                _sender = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="webhook-send")
    return _sender


def _timed_send(target: Any, body: bytes, headers: dict[str, str]) -> tuple[Outcome, float]:
    outcome = send_to(target, body=body, headers=headers)
    return outcome, time.time()


def _send_concurrently(
    target: Any, requests: list[tuple[bytes, dict[str, str]]]
) -> list[tuple[Outcome, float]]:
    """The requests at once: this thread sends the first, the process's sender threads
    the others (on the same connection pools, kept alive between batches)."""
    pool = _send_threads()
    futures = [pool.submit(_timed_send, target, body, headers) for body, headers in requests[1:]]
    first = _timed_send(target, *requests[0])
    return [first, *(future.result() for future in futures)]
