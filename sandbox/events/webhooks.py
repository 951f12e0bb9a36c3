"""Sending webhooks: one signed POST per attempt, every attempt stored, failures retried
with exponential backoff and jitter on the node's clock for up to three days.

Concurrency (docs/webhooks.md): attempts run on the webhook queue, whose workers run a
pool of threads (dev.py, README): an attempt spends its time waiting on the receiver, so
threads give many requests in flight per process, each a plain synchronous attempt with
its own database connection, and a slow receiver holds a thread, not a process. Each
process keeps one connection pool per TLS host name (``_client``); each endpoint gets at
most SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY slots (``sandbox.events.slots``); an endpoint
that fails for SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS is disabled (``_endpoint_health``)."""

from __future__ import annotations

import json
import random
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import certifi
import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from sandbox.clock import now as clock_now
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
from sandbox.events.slots import BACKLOG_MARK_SECONDS, endpoint_slots
from sandbox.tenants.models import Node
from sandbox.urlguard import UnsafeWebhookUrl, resolve_for_delivery

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
                    timeout=_timeout(), follow_redirects=False, trust_env=False, verify=_tls()
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
    try:
        target = resolve_for_delivery(url)
    except UnsafeWebhookUrl as exc:
        return Outcome(succeeded=False, error=exc.message[:300])
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
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, attempt_count=number - 1
    ).update(attempt_count=number)
    if claimed != 1:
        return _repair_lost_attempt(delivery_id=delivery_id, number=number)
    delivery = WebhookDelivery.objects.select_related(
        "event", "node", "node__webhook_endpoint"
    ).get(pk=delivery_id)
    node = delivery.node
    body = event_body(delivery.event)
    secrets = [s.secret for s in webhook_secrets_live(node=node)]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secrets, int(time.time()), body),
        "Sandbox-Event-Id": str(delivery.event_id),
        "Sandbox-Event-Type": delivery.event.type,
        "Sandbox-Delivery-Id": str(delivery.pk),
        "Sandbox-Delivery-Attempt": str(number),
    }
    # The URL is read now: a node that changed its URL gets retries at the new one.
    url = node.webhook_url or delivery.url
    endpoint = _endpoint(node)
    if not node.is_active:
        outcome = Outcome(succeeded=False, error="The node is deactivated.")
    elif not node.webhook_url:
        outcome = Outcome(succeeded=False, error="The node has no webhook URL any more.")
    elif endpoint is not None and endpoint.disabled_at is not None:
        outcome = Outcome(succeeded=False, error=DISABLED_ERROR)
    else:
        outcome = send(url=url, body=body, headers=headers)
        _endpoint_health(node=node, succeeded=outcome.succeeded)
    return _record(delivery=delivery, number=number, url=url, outcome=outcome)


DISABLED_ERROR = "The webhook endpoint is disabled; enable it to receive events again."


def _endpoint(node: Any) -> WebhookEndpoint | None:
    try:
        return node.webhook_endpoint
    except WebhookEndpoint.DoesNotExist:
        return None


def _endpoint_health(*, node: Any, succeeded: bool) -> None:
    """Remember since when (node time) every attempt to the endpoint has failed; once that
    is SANDBOX_WEBHOOK_DISABLE_AFTER_DAYS, disable it, with a webhook_endpoint.disabled
    event (as Stripe does). A success forgets the failures. Writes only on a change."""
    endpoint = _endpoint(node)
    if succeeded:
        if endpoint is not None and endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=node.pk).update(failing_since=None)
        return
    node_time = clock_now(node_id=node.pk)
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


def _record(
    *, delivery: WebhookDelivery, number: int, url: str, outcome: Outcome
) -> WebhookAttempt:
    with transaction.atomic():
        node_time = clock_now(node_id=delivery.node_id)
        attempt = WebhookAttempt.objects.create(
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
        changes: dict[str, Any] = {
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }
        if outcome.succeeded:
            changes |= {
                "status": WebhookDelivery.Status.SUCCEEDED,
                "completed_at": timezone.now(),
                "next_attempt_at": None,
            }
        elif (
            delivery.is_manual
            or node_time >= delivery.expires_at
            or not delivery.node.is_active
            or outcome.error == DISABLED_ERROR
        ):
            changes |= {
                "status": WebhookDelivery.Status.FAILED,
                "completed_at": timezone.now(),
                "next_attempt_at": None,
            }
        else:
            next_at = min(node_time + retry_delay(number), delivery.expires_at)
            changes["next_attempt_at"] = next_at
            scheduling.schedule(
                kind="webhook.attempt",
                node=delivery.node,
                due_at=next_at,
                payload={"delivery": str(delivery.pk), "attempt": number + 1},
                key=f"webhook:{delivery.pk}:{number + 1}",
            )
        WebhookDelivery.objects.filter(pk=delivery.pk, attempt_count=number).update(**changes)
    return attempt


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
    return _record(delivery=delivery, number=number, url=delivery.node.webhook_url, outcome=outcome)


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
    per_node=_endpoint_concurrency,
)
def _run_webhook_attempt(action: ScheduledAction) -> None:
    """One attempt, in one of the endpoint's slots. With every slot taken by a slow
    receiver, the attempt is deferred (``scheduling.Deferred``: pending again, never
    dropped) and queued again as a slot frees: each finished attempt to an endpoint with
    deferred work queues the next one, and the sweep catches the rest."""
    endpoint, slots = str(action.node_id), endpoint_slots()
    holder = f"{action.payload['delivery']}:{action.payload['attempt']}"
    _take_slot(endpoint, holder)
    try:
        webhook_attempt(
            delivery_id=action.payload["delivery"], number=int(action.payload["attempt"])
        )
    finally:
        slots.release(endpoint, holder)
    if slots.has_backlog(endpoint) and scheduling.dispatch_next(
        kind="webhook.attempt", node_id=action.node_id
    ):
        slots.mark_backlog(endpoint, ttl=BACKLOG_MARK_SECONDS)  # more may wait: keep pulling


def _take_slot(endpoint: str, holder: str) -> None:
    slots = endpoint_slots()
    ttl = settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS + SLOT_MARGIN_SECONDS
    deadline = time.monotonic() + SLOT_WAIT_SECONDS
    while True:
        grant = slots.acquire(endpoint, holder, limit=_endpoint_concurrency(), ttl=ttl)
        if grant.acquired:
            return
        if grant.oldest_age >= QUICK_ENDPOINT_SECONDS or time.monotonic() >= deadline:
            slots.mark_backlog(endpoint, ttl=BACKLOG_MARK_SECONDS)
            # Back about when the oldest attempt in flight must have ended.
            wait = settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS - grant.oldest_age
            raise scheduling.Deferred(
                max(1.0, wait) + _random.uniform(0, 1), "every slot of the endpoint is taken"
            )
        time.sleep(0.02)
