"""Sending webhooks: one signed POST per attempt, every attempt stored, failures retried
with exponential backoff and jitter on the node's clock for up to three days.

Concurrency (docs/webhooks.md): attempts run on the webhook queue, whose workers run a
pool of threads (dev.py, README). In real time a thread runs one endpoint's task, which
sends that endpoint's due attempts in batches, each batch's requests at once
(``sandbox.events.webhook_batches``); a test clock's advance runs them one at a time here
(``webhook_attempt``). Both follow the rules of this module. Each process keeps one
connection pool per TLS host name (``_client``); each endpoint gets at most
SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY slots (``sandbox.events.slots``); an endpoint that
fails for SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS is disabled (``endpoint_health``)."""

from __future__ import annotations

import json
import random
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import certifi
import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from sandbox.clock import now as clock_now
from sandbox.clock import platform_time
from sandbox.events import scheduling
from sandbox.events.models import (
    Event,
    ScheduledAction,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from sandbox.events.services import endpoint_as_json, event_record, webhook_secrets_live
from sandbox.events.signing import SIGNATURE_HEADER, signature_header
from sandbox.events.slots import endpoint_slots
from sandbox.tenants.models import Node
from sandbox.urlguard import DeliveryTarget, UnsafeWebhookUrl, resolve_for_delivery

FIRST_BACKOFF_SECONDS = 60
MAX_BACKOFF_SECONDS = 12 * 3600
EXCERPT_BYTES = 2048
USER_AGENT = "FintechSandbox-Webhooks/1.0"

_random = random.SystemRandom()

_tls_context: ssl.SSLContext | None = None
_tls_context_lock = threading.Lock()


def _tls() -> ssl.SSLContext:
    """The TLS context every attempt verifies with, built once per process: loading the CA
    bundle costs about 25 ms of CPU, which a new ``httpx.Client(verify=True)`` paid on every
    attempt. The same context httpx builds for ``verify=True, trust_env=False``: the default
    context on certifi's bundle."""
    global _tls_context
    if _tls_context is None:
        with _tls_context_lock:
            if _tls_context is None:
                _tls_context = ssl.create_default_context(cafile=certifi.where())
    return _tls_context


# No cap on connections per pool (the endpoints' slots and the process's threads bound
# them), and every one kept alive: httpx's default keeps 20, so a process sending to ten
# busy plain-http endpoints (one pool) opened a new connection for most requests.
POOL_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None)
_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()
MAX_CLIENTS = 256


def _client(sni_hostname: str | None) -> httpx.Client:
    """The connection pool this process sends with, one per TLS host name, so that
    connections (and TLS handshakes) are reused across attempts. httpx pools connections by
    the address they go to, here the checked IP: a connection whose certificate was
    verified for one name must never carry a request for another name on the same address,
    hence a pool per name (plain http shares one). Thread-safe, like httpx's pools."""
    key = sni_hostname or ""
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                if len(_clients) >= MAX_CLIENTS:
                    # The oldest pool goes; its idle connections close when it is collected.
                    _clients.pop(next(iter(_clients)))
                client = httpx.Client(
                    timeout=_timeout(),
                    follow_redirects=False,
                    trust_env=False,
                    verify=_tls(),
                    limits=POOL_LIMITS,
                )
                _clients[key] = client
    return client


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS, connect=3.0)


def event_as_json(event: Event) -> dict[str, Any]:
    """The event as the API shows it and as webhooks carry it."""
    return {
        "id": str(event.pk),
        "object": "event",
        "type": event.type,
        "node": str(event.node_id) if event.node_id else None,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "data": event.data,
        "occurred_at": event.occurred_at.isoformat(),
        "created_at": event.created_at.isoformat(),
        "livemode": False,
    }


def event_body(event: Event) -> bytes:
    return json.dumps(event_as_json(event), cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def request_headers(*, delivery: WebhookDelivery, number: int, signature: str) -> dict[str, str]:
    """The headers of attempt ``number`` of a delivery: what each attempt sends, and what
    the delivery page shows for it (with the signature it cannot know again: the secrets
    are not kept with the attempt)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature,
        "Sandbox-Event-Id": str(delivery.event_id),
        "Sandbox-Event-Type": delivery.event.type,
        "Sandbox-Delivery-Id": str(delivery.pk),
        "Sandbox-Delivery-Attempt": str(number),
    }


def retry_delay(attempt: int, rng: random.Random = _random) -> timedelta:
    """The wait after failed attempt ``attempt`` (1-based): one minute doubling each time,
    capped at twelve hours, times a random factor in [0.75, 1.25) so that receivers coming
    back from an outage are not hit by every retry at the same second."""
    base = min(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
    return timedelta(seconds=base * rng.uniform(0.75, 1.25))


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None = None
    latency_ms: int = 0
    excerpt: str = ""
    error: str = ""
    ip_address: str | None = None


def send(*, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST ``body`` to ``url``; never raises. No redirects, short timeouts, no proxies from
    the environment, and the connection goes to the address that passed the URL check."""
    target = resolve(url)
    if isinstance(target, Outcome):
        return target
    return send_to(target, body=body, headers=headers)


def resolve(url: str) -> DeliveryTarget | Outcome:
    """The checked address to send to, or the failed outcome of an unsafe URL."""
    try:
        return resolve_for_delivery(url)
    except UnsafeWebhookUrl as exc:
        return Outcome(succeeded=False, error=exc.message[:300])


def send_to(target: DeliveryTarget, *, body: bytes, headers: dict[str, str]) -> Outcome:
    """``send`` to an address ``resolve`` checked (a batch checks its URL once)."""
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    client = _client(target.sni_hostname)
    started = time.monotonic()
    try:
        request = client.build_request(
            "POST",
            target.connect_url,
            content=body,
            headers={**headers, "Host": target.host_header},
            extensions=extensions,
            timeout=_timeout(),
        )
        response = client.send(request, stream=True)
        try:
            excerpt = bytearray()
            for chunk in response.iter_bytes():
                excerpt.extend(chunk)
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        finally:
            response.close()
    except httpx.TimeoutException:
        return Outcome(
            succeeded=False,
            latency_ms=_elapsed_ms(started),
            error=f"Timed out after {settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS} s.",
            ip_address=target.ip_address,
        )
    except httpx.HTTPError as exc:
        return Outcome(
            succeeded=False,
            latency_ms=_elapsed_ms(started),
            error=f"{type(exc).__name__}: {exc}"[:300],
            ip_address=target.ip_address,
        )
    code = response.status_code
    error = ""
    if 300 <= code < 400:
        error = "Redirects are not followed; point the webhook URL at the final address."
    elif not 200 <= code < 300:
        error = f"The receiver answered {code}."
    return Outcome(
        succeeded=200 <= code < 300,
        status_code=code,
        latency_ms=_elapsed_ms(started),
        excerpt=bytes(excerpt[:EXCERPT_BYTES]).decode("utf-8", "replace"),
        error=error,
        ip_address=target.ip_address,
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def webhook_attempt(*, delivery_id: str, number: int) -> WebhookAttempt | None:
    """Make attempt ``number`` of a delivery. The attempt is claimed by moving
    ``attempt_count`` from number-1 to number in one conditional UPDATE, so running this twice
    sends once. Returns the stored attempt, or None if there was nothing to do."""
    claim = _claim(delivery_id=delivery_id, number=number)
    if claim is None:
        return _repair_lost_attempt(delivery_id=delivery_id, number=number)
    delivery = claim.delivery
    node = delivery.node
    body = event_body(delivery.event)
    headers = request_headers(
        delivery=delivery,
        number=number,
        signature=signature_header(claim.secrets, int(time.time()), body),
    )
    # The URL is read now: a node that changed its URL gets retries at the new one.
    url = node.webhook_url or delivery.url
    outcome = attempt_outcome(node=node, endpoint=endpoint_of(node))
    if outcome is None:
        outcome = send(url=url, body=body, headers=headers)
        endpoint_health(node=node, succeeded=outcome.succeeded, clock=claim.clock)
    return _record(delivery=delivery, number=number, url=url, outcome=outcome, clock=claim.clock)


def attempt_outcome(*, node: Any, endpoint: WebhookEndpoint | None) -> Outcome | None:
    """The failed outcome of an attempt that must not be sent, None if it may go."""
    if not node.is_active:
        return Outcome(succeeded=False, error="The node is deactivated.")
    if not node.webhook_url:
        return Outcome(succeeded=False, error="The node has no webhook URL any more.")
    if endpoint is not None and endpoint.disabled_at is not None:
        return Outcome(succeeded=False, error=DISABLED_ERROR)
    return None


@dataclass(frozen=True)
class NodeClock:
    """A node's time as read once per attempt: the frozen time of the test clock it
    follows, else the platform clock's row, which moves with real time (so ``now()``
    after the send is the time after the send, as a second read would have said)."""

    node_id: Any
    test_clock_time: datetime | None
    platform_row: tuple[int, datetime | None] | None
    read: bool = True

    def now(self) -> datetime:
        if not self.read:
            return clock_now(node_id=self.node_id)
        if self.test_clock_time is not None:
            return self.test_clock_time
        if self.platform_row is None:
            return timezone.now()
        return platform_time(*self.platform_row)


@dataclass(frozen=True)
class Claim:
    delivery: WebhookDelivery  # its node (and the node's endpoint) and event loaded
    secrets: list[str]
    clock: NodeClock


def _claim(*, delivery_id: str, number: int) -> Claim | None:
    """Claim the attempt and load what it needs; None if it was not ours to make."""
    if connection.vendor == "postgresql":
        return _claim_in_one_statement(delivery_id=delivery_id, number=number)
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, attempt_count=number - 1
    ).update(attempt_count=number)
    if claimed != 1:
        return None
    delivery = WebhookDelivery.objects.select_related(
        "event", "node", "node__webhook_endpoint"
    ).get(pk=delivery_id)
    secrets = [s.secret for s in webhook_secrets_live(node=delivery.node)]
    return Claim(delivery, secrets, NodeClock(delivery.node_id, None, None, read=False))


# The columns node_from_row and delivery_from_row take, in order (both claims select them).
NODE_COLUMNS = """n.tenant_id, n.webhook_url, n.is_active,
    w.node_id, w.failing_since, w.disabled_at,
    ARRAY(
        SELECT s.secret FROM events_webhooksecret s
        WHERE s.node_id = n.id AND (s.expires_at IS NULL OR s.expires_at > %(real_now)s)
        ORDER BY s.expires_at IS NOT NULL, s.created_at DESC
    ),
    EXISTS(SELECT 1 FROM events_webhooksecret s WHERE s.node_id = n.id AND s.expires_at IS NULL),
    (SELECT t.frozen_time FROM events_clockattachment a
        JOIN events_testclock t ON t.id = a.clock_id WHERE a.node_id = n.id),
    p.id, p.offset_seconds, p.frozen_time"""
EVENT_COLUMNS = """e.tenant_id, e.node_id, e.type, e.object_type, e.object_id, e.data::text,
    e.occurred_at, e.created_at"""


# The webhook worker's hot path (issue 12): the claim, the delivery, its event, node and
# endpoint, the live secrets (current first, then the expiring ones, newest first) and the
# node's clocks, in one round trip instead of seven ORM queries.
_CLAIM_SQL = f"""
WITH claimed AS (
    UPDATE events_webhookdelivery SET attempt_count = %(number)s
    WHERE id = %(id)s AND status = 'pending' AND attempt_count = %(number)s - 1
    RETURNING id, tenant_id, node_id, event_id, url, is_manual, expires_at
)
SELECT c.id, c.tenant_id, c.node_id, c.event_id, c.url, c.is_manual, c.expires_at,
    {EVENT_COLUMNS}, {NODE_COLUMNS}
FROM claimed c
JOIN events_event e ON e.id = c.event_id
JOIN tenants_node n ON n.id = c.node_id
LEFT JOIN events_webhookendpoint w ON w.node_id = c.node_id
LEFT JOIN events_platformclock p ON p.id = 1
"""


def _claim_in_one_statement(*, delivery_id: str, number: int) -> Claim | None:
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL, {"id": delivery_id, "number": number, "real_now": timezone.now()}
        )
        row = cursor.fetchone()
    if row is None:
        return None
    (d_id, d_tenant, node_id, event_id, url, is_manual, expires_at) = row[0:7]
    node, secrets, clock = node_from_row(node_id, row[15:27])
    delivery = delivery_from_row(
        node, number, (d_id, d_tenant, event_id, url, is_manual, expires_at), row[7:15]
    )
    return Claim(delivery, secrets, clock)


def node_from_row(node_id: Any, values: Any) -> tuple[Node, list[str], NodeClock]:
    """The node (with its endpoint), its live secrets and its clock from NODE_COLUMNS."""
    (n_tenant, webhook_url, is_active, w_node, failing_since, disabled_at) = values[0:6]
    (secrets, has_current, test_time, platform_id, offset_seconds, platform_frozen) = values[6:12]
    db = connection.alias
    node = Node.from_db(
        db,
        ["id", "tenant_id", "webhook_url", "is_active"],
        [node_id, n_tenant, webhook_url, is_active],
    )
    endpoint = None
    if w_node is not None:
        endpoint = WebhookEndpoint.from_db(
            db, ["node_id", "failing_since", "disabled_at"], [w_node, failing_since, disabled_at]
        )
        endpoint._state.fields_cache["node"] = node
    node._state.fields_cache["webhook_endpoint"] = endpoint
    if not has_current:  # the current secret is made on first use
        secrets = [s.secret for s in webhook_secrets_live(node=node)]
    platform = (offset_seconds or 0, platform_frozen) if platform_id is not None else None
    return node, list(secrets), NodeClock(node_id, test_time, platform)


def delivery_from_row(
    node: Node, number: int, delivery_values: Any, event_values: Any
) -> WebhookDelivery:
    """A claimed delivery (id, tenant, event, url, is_manual, expires_at) of ``node``, now
    at attempt ``number``, with its event (EVENT_COLUMNS)."""
    (d_id, d_tenant, event_id, url, is_manual, expires_at) = delivery_values
    db = connection.alias
    event_fields = ["tenant_id", "node_id", "type", "object_type", "object_id", "data"]
    event_values = list(event_values)
    event_values[5] = json.loads(event_values[5])
    event = Event.from_db(
        db,
        ["id", *event_fields, "occurred_at", "created_at"],
        [event_id, *event_values],
    )
    delivery = WebhookDelivery.from_db(
        db,
        [
            "id",
            "tenant_id",
            "node_id",
            "event_id",
            "url",
            "status",
            "is_manual",
            "attempt_count",
            "expires_at",
        ],
        [
            d_id,
            d_tenant,
            node.pk,
            event_id,
            url,
            WebhookDelivery.Status.PENDING,
            is_manual,
            number,
            expires_at,
        ],
    )
    delivery._state.fields_cache["node"] = node
    delivery._state.fields_cache["event"] = event
    return delivery


DISABLED_ERROR = "The webhook endpoint is disabled; enable it to receive events again."


def endpoint_of(node: Any) -> WebhookEndpoint | None:
    try:
        return node.webhook_endpoint
    except WebhookEndpoint.DoesNotExist:
        return None


def endpoint_health(*, node: Any, succeeded: bool, clock: NodeClock) -> None:
    """Remember since when (node time) every attempt to the endpoint has failed; once that
    is SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS, disable it, with a webhook_endpoint.disabled
    event (as Stripe does). A success forgets the failures. Writes only on a change."""
    endpoint = endpoint_of(node)
    if succeeded:
        if endpoint is not None and endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=node.pk).update(failing_since=None)
        return
    node_time = clock.now()
    if endpoint is None or endpoint.failing_since is None:
        WebhookEndpoint.objects.get_or_create(node_id=node.pk)
        WebhookEndpoint.objects.filter(pk=node.pk, failing_since__isnull=True).update(
            failing_since=node_time
        )
        return
    if endpoint.disabled_at is not None:
        return
    period = timedelta(days=settings.SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS)
    if node_time - endpoint.failing_since < period:
        return
    with transaction.atomic():
        disabled = WebhookEndpoint.objects.filter(
            pk=node.pk, disabled_at__isnull=True, failing_since__isnull=False
        ).update(disabled_at=timezone.now())
        if disabled:
            node = Node.objects.select_related("webhook_endpoint").get(pk=node.pk)
            event_record(
                tenant=None,
                node=node,
                type="webhook_endpoint.disabled",
                obj=node,
                data=endpoint_as_json(node),
            )


def delivery_changes(
    *, delivery: WebhookDelivery, number: int, outcome: Outcome, node_time: datetime
) -> dict[str, Any]:
    """The delivery's new state after attempt ``number``: succeeded, failed for good (a
    resend, the retry window over, the node deactivated or its endpoint disabled), or
    pending with the next attempt's time."""
    changes: dict[str, Any] = {
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if outcome.succeeded:
        return changes | {
            "status": WebhookDelivery.Status.SUCCEEDED,
            "completed_at": timezone.now(),
            "next_attempt_at": None,
        }
    if (
        delivery.is_manual
        or node_time >= delivery.expires_at
        or not delivery.node.is_active
        or outcome.error == DISABLED_ERROR
    ):
        return changes | {
            "status": WebhookDelivery.Status.FAILED,
            "completed_at": timezone.now(),
            "next_attempt_at": None,
        }
    next_at = min(node_time + retry_delay(number), delivery.expires_at)
    return changes | {"status": WebhookDelivery.Status.PENDING, "next_attempt_at": next_at}


def _record(
    *, delivery: WebhookDelivery, number: int, url: str, outcome: Outcome, clock: NodeClock
) -> WebhookAttempt:
    node_time = clock.now()
    attempt = WebhookAttempt(
        delivery=delivery,
        number=number,
        clock_time=node_time,
        url=url[:500],
        ip_address=outcome.ip_address,
        status_code=outcome.status_code,
        succeeded=outcome.succeeded,
        latency_ms=outcome.latency_ms,
        response_excerpt=outcome.excerpt,
        error=outcome.error,
    )
    changes = delivery_changes(
        delivery=delivery, number=number, outcome=outcome, node_time=node_time
    )
    next_at = changes["next_attempt_at"]
    if next_at is not None:
        with transaction.atomic():
            scheduling.schedule(
                kind="webhook.attempt",
                node=delivery.node,
                due_at=next_at,
                payload={"delivery": str(delivery.pk), "attempt": number + 1},
                key=f"webhook:{delivery.pk}:{number + 1}",
            )
            _store_outcome(attempt, changes)
        return attempt
    _store_outcome(attempt, changes)
    return attempt


# The attempt and the delivery's new state in one statement (one round trip, atomic by
# itself): the delivery changes only if this attempt is still its latest.
_RECORD_SQL = """
WITH attempt AS (
    INSERT INTO events_webhookattempt (delivery_id, number, attempted_at, clock_time, url,
        ip_address, status_code, succeeded, latency_ms, response_excerpt, error)
    VALUES (%(delivery)s, %(number)s, %(attempted_at)s, %(clock_time)s, %(url)s,
        %(ip_address)s::inet, %(status_code)s, %(succeeded)s, %(latency_ms)s, %(excerpt)s,
        %(error)s)
    RETURNING id
), delivery AS (
    UPDATE events_webhookdelivery SET last_status_code = %(status_code)s,
        last_error = %(error)s, status = %(status)s,
        completed_at = COALESCE(%(completed_at)s, completed_at),
        next_attempt_at = %(next_attempt_at)s
    WHERE id = %(delivery)s AND attempt_count = %(number)s
)
SELECT id FROM attempt
"""


def _store_outcome(attempt: WebhookAttempt, changes: dict[str, Any]) -> None:
    if connection.vendor != "postgresql":
        with transaction.atomic():
            attempt.save(force_insert=True)
            WebhookDelivery.objects.filter(
                pk=attempt.delivery_id, attempt_count=attempt.number
            ).update(**changes)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            {
                "delivery": attempt.delivery_id,
                "number": attempt.number,
                "attempted_at": attempt.attempted_at,
                "clock_time": attempt.clock_time,
                "url": attempt.url,
                "ip_address": attempt.ip_address,
                "status_code": attempt.status_code,
                "succeeded": attempt.succeeded,
                "latency_ms": attempt.latency_ms,
                "excerpt": attempt.response_excerpt,
                "error": attempt.error,
                "status": changes["status"],
                "completed_at": changes.get("completed_at"),
                "next_attempt_at": changes["next_attempt_at"],
            },
        )
        (attempt.pk,) = cursor.fetchone()
    attempt._state.adding = False
    attempt._state.db = connection.alias


def _repair_lost_attempt(*, delivery_id: str, number: int) -> WebhookAttempt | None:
    """The attempt was claimed but never recorded: the process that claimed it died. Record
    it as lost (the receiver may or may not have seen it) and go on with the schedule."""
    delivery = WebhookDelivery.objects.select_related("node").filter(pk=delivery_id).first()
    if (
        delivery is None
        or delivery.status != WebhookDelivery.Status.PENDING
        or delivery.attempt_count != number
        or WebhookAttempt.objects.filter(delivery=delivery, number=number).exists()
    ):
        return None
    outcome = Outcome(succeeded=False, error="The worker stopped before the answer was recorded.")
    clock = NodeClock(delivery.node_id, None, None, read=False)
    return _record(
        delivery=delivery,
        number=number,
        url=delivery.node.webhook_url,
        outcome=outcome,
        clock=clock,
    )


# A slot is held at most the attempt's timeout plus this; then a dead worker's slot frees.
SLOT_MARGIN_SECONDS = 30
# An endpoint whose longest attempt in flight is younger than this answers quickly: wait
# (up to SLOT_WAIT_SECONDS) for one of its slots rather than deferring the attempt.
QUICK_ENDPOINT_SECONDS = 1.0
SLOT_WAIT_SECONDS = 0.5


def _endpoint_concurrency() -> int:
    return settings.SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY


@scheduling.handler(
    "webhook.attempt",
    atomic=False,
    task=scheduling.DELIVER_WEBHOOK_TASK,
    node_task=scheduling.DELIVER_ENDPOINT_TASK,
)
def _run_webhook_attempt(action: ScheduledAction) -> None:
    """One attempt, in one of the endpoint's slots: how a test clock's advance runs them,
    in order (in real time the endpoint's task sends them in batches,
    ``sandbox.events.webhook_batches``). With every slot taken by a slow receiver, the
    attempt is deferred (``scheduling.Deferred``: pending again, never dropped) and the
    sweep queues it again."""
    endpoint, slots = str(action.node_id), endpoint_slots()
    holder = f"{action.payload['delivery']}:{action.payload['attempt']}"
    _take_slot(endpoint, holder)
    try:
        webhook_attempt(
            delivery_id=action.payload["delivery"], number=int(action.payload["attempt"])
        )
    finally:
        slots.release(endpoint, holder)


def _take_slot(endpoint: str, holder: str) -> None:
    slots = endpoint_slots()
    ttl = settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS + SLOT_MARGIN_SECONDS
    deadline = time.monotonic() + SLOT_WAIT_SECONDS
    while True:
        grant = slots.acquire(endpoint, holder, limit=_endpoint_concurrency(), ttl=ttl)
        if grant.acquired:
            return
        if grant.oldest_age >= QUICK_ENDPOINT_SECONDS or time.monotonic() >= deadline:
            # Back about when the oldest attempt in flight must have ended.
            wait = settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS - grant.oldest_age
            raise scheduling.Deferred(
                max(1.0, wait) + _random.uniform(0, 1), "every slot of the endpoint is taken"
            )
        time.sleep(0.02)
