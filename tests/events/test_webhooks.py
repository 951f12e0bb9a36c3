"""Delivery to a real HTTP receiver: signatures, attempts, retries, resend, claims."""

from __future__ import annotations

import ssl

import httpx
import pytest

from sandbox.events import scheduling, webhooks
from sandbox.events.models import ScheduledAction, WebhookAttempt, WebhookDelivery
from sandbox.events.services import event_resend, outbox_relay, webhook_secret_current
from sandbox.events.webhooks import webhook_attempt
from sandbox.tenants.services import SYSTEM
from sandbox.urlguard import DeliveryTarget
from tests.factories import NodeFactory
from tests.helpers import pump, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked_node(alice, receiver):
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=node).secret]
    return node


def test_it_delivers_a_signed_event_the_receiver_can_verify(hooked_node, receiver):
    event = record(hooked_node, data={"amount": "1000", "currency": "KRW"})

    pump()

    assert len(receiver.requests) == 1
    seen = receiver.requests[0]
    assert seen.verified, seen.verify_error
    assert seen.json["id"] == str(event.pk)
    assert seen.json["type"] == "payment.succeeded"
    assert seen.json["data"] == {"amount": "1000", "currency": "KRW"}
    assert seen.headers["Sandbox-Event-Id"] == str(event.pk)
    assert seen.headers["Sandbox-Delivery-Attempt"] == "1"
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    attempt = delivery.attempts.get()
    assert attempt.status_code == 200 and attempt.succeeded
    assert '"received": true' in attempt.response_excerpt
    assert attempt.ip_address == "127.0.0.1"


def test_it_retries_failures_with_growing_gaps_and_then_succeeds(hooked_node, receiver):
    receiver.script = [500, 503]
    event = record(hooked_node)
    outbox_relay()
    delivery = WebhookDelivery.objects.get(event=event)

    webhook_attempt(delivery_id=delivery.pk, number=1)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    first_gap = delivery.next_attempt_at - delivery.created_at
    assert 40 <= first_gap.total_seconds() <= 80  # one minute, jittered

    webhook_attempt(delivery_id=delivery.pk, number=2)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    webhook_attempt(delivery_id=delivery.pk, number=3)
    delivery.refresh_from_db()

    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert [a.status_code for a in delivery.attempts.all()] == [500, 503, 200]
    assert [r.headers["Sandbox-Delivery-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert all(r.verified for r in receiver.requests)
    assert ScheduledAction.objects.filter(key__startswith=f"webhook:{delivery.pk}:").count() == 3


def test_it_sends_an_attempt_once_however_often_it_runs(hooked_node, receiver):
    event = record(hooked_node)
    outbox_relay()
    delivery = WebhookDelivery.objects.get(event=event)

    assert webhook_attempt(delivery_id=delivery.pk, number=1) is not None
    assert webhook_attempt(delivery_id=delivery.pk, number=1) is None
    action = ScheduledAction.objects.get(key=f"webhook:{delivery.pk}:1")
    assert scheduling.action_run(action_id=action.pk) is True  # claimed, but nothing to send
    assert scheduling.action_run(action_id=action.pk) is False  # done: not claimable again

    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 1


def test_it_records_a_claimed_attempt_whose_worker_died_as_lost_and_goes_on(hooked_node, receiver):
    event = record(hooked_node)
    outbox_relay()
    delivery = WebhookDelivery.objects.get(event=event)
    # A worker claimed attempt 1 and died before recording anything.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempt_count=1)

    attempt = webhook_attempt(delivery_id=delivery.pk, number=1)

    assert attempt is not None and not attempt.succeeded
    assert "stopped" in attempt.error
    assert ScheduledAction.objects.filter(key=f"webhook:{delivery.pk}:2").exists()
    assert receiver.requests == []


def test_it_does_not_follow_redirects(alice, receiver):
    receiver.default = 302
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    record(node)
    pump()
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 302 and not attempt.succeeded
    assert "Redirects are not followed" in attempt.error


def test_it_resends_a_past_event_once_on_request_and_records_who_asked(
    hooked_node, receiver, alice
):
    event = record(hooked_node)
    pump()
    receiver.default = 500

    delivery = event_resend(event=event, actor=SYSTEM)
    pump()

    delivery.refresh_from_db()
    assert delivery.is_manual and delivery.triggered_by == "system"
    assert delivery.status == WebhookDelivery.Status.FAILED  # manual: one attempt, no retry
    assert receiver.event_ids == [str(event.pk), str(event.pk)]
    assert delivery.attempts.count() == 1


def test_it_makes_no_delivery_for_nodes_without_a_webhook_url(alice):
    node = NodeFactory(tenant=alice.tenant)
    event = record(node)
    assert outbox_relay() == 1
    event.refresh_from_db()
    assert event.relayed_at is not None
    assert not WebhookDelivery.objects.exists()


def test_attempts_reuse_one_connection_pool_per_tls_name_verified_with_one_context(
    monkeypatch, settings
):
    """The CA bundle is loaded once per process and connections are pooled per process:
    one client per TLS host name (a connection verified for one name never carries a
    request for another name at the same address); verification, the timeout, redirects
    and proxies are as before, and each request still goes to the checked address."""
    seen, sent = [], []

    class Recorder(httpx.Client):
        def __init__(self, **kwargs):
            seen.append(kwargs)
            super().__init__(**kwargs)

        def send(self, request, **kwargs):
            sent.append((self, request))
            raise httpx.ConnectError("not connecting in this test", request=request)

    def target(url):
        host = url.split("/")[2]
        return DeliveryTarget(
            connect_url="https://93.184.215.14/hook",
            host_header=host,
            sni_hostname=host,
            ip_address="93.184.215.14",
        )

    monkeypatch.setattr(webhooks.httpx, "Client", Recorder)
    monkeypatch.setattr(webhooks, "_clients", {})
    monkeypatch.setattr(webhooks, "resolve_for_delivery", target)
    for url in ["https://a.example/hook", "https://a.example/hook", "https://b.example/hook"]:
        outcome = webhooks.send(url=url, body=b"{}", headers={})
        assert not outcome.succeeded and "not connecting" in outcome.error

    assert len(seen) == 2  # a.example's pool twice, then b.example's
    (client_a, first), (again, second), (client_b, third) = sent
    assert client_a is again and client_b is not client_a
    assert [r.extensions["sni_hostname"] for r in (first, second, third)] == [
        "a.example", "a.example", "b.example"
    ]  # fmt: skip
    assert str(first.url) == "https://93.184.215.14/hook" and first.headers["Host"] == "a.example"
    assert (
        first.extensions["timeout"]
        == httpx.Timeout(settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS, connect=3.0).as_dict()
    )
    one, other = seen
    assert one["verify"] is other["verify"] is webhooks._tls()
    assert one["verify"].verify_mode == ssl.CERT_REQUIRED and one["verify"].check_hostname
    assert one["verify"].cert_store_stats()["x509_ca"] > 100  # certifi's bundle is loaded
    assert one["follow_redirects"] is False and one["trust_env"] is False
