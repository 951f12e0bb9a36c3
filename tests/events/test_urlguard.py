"""Webhook URLs into private or link-local ranges are refused, at save and at delivery."""

from __future__ import annotations

import socket

import pytest

from sandbox.errors import ApplicationError
from sandbox.events.models import WebhookAttempt
from sandbox.tenants import services as tenant_services
from sandbox.tenants.services import SYSTEM
from sandbox.urlguard import resolve_for_delivery, validate_webhook_url
from tests.events.helpers import pump, record
from tests.factories import NodeFactory


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata: link-local
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://0.0.0.0/hook",
        "http://[::ffff:10.0.0.1]/hook",  # IPv4-mapped private address
        "ftp://example.com/hook",
        "http://user:pw@203.0.113.10/hook",
    ],
)
def test_it_refuses_private_link_local_and_odd_urls(url):
    with pytest.raises(ApplicationError) as refused:
        validate_webhook_url(url)
    assert "webhook_url" in refused.value.fields


def test_it_refuses_loopback_unless_allowed(settings):
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(ApplicationError):
        validate_webhook_url("http://127.0.0.1:8000/hook")
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = True
    validate_webhook_url("http://127.0.0.1:8000/hook")


def test_operators_may_allow_private_ranges(settings):
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = True
    validate_webhook_url("http://10.0.0.5/hook")
    validate_webhook_url("http://169.254.10.10/hook")


def test_public_addresses_pass():
    validate_webhook_url("https://8.8.8.8/hook")
    validate_webhook_url("")


def test_a_host_name_is_checked_by_what_it_resolves_to(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.1.2.3", 443))])
    with pytest.raises(ApplicationError):
        validate_webhook_url("https://hooks.example.com/x")


def test_delivery_connects_to_the_checked_address_with_the_original_host_and_sni(monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.216.34", 443))]
    )
    target = resolve_for_delivery("https://hooks.example.com:8443/x?y=1")
    assert target.connect_url == "https://93.184.216.34:8443/x?y=1"
    assert target.host_header == "hooks.example.com:8443"
    assert target.sni_hostname == "hooks.example.com"


@pytest.mark.django_db
def test_node_create_and_update_refuse_private_urls(alice, settings):
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = False
    for url in ("http://10.0.0.1/h", "http://127.0.0.1/h"):
        response = alice.api.post(
            "/api/v1/nodes",
            {"name": "n", "country": "KR", "base_currency": "KRW", "webhook_url": url},
            format="json",
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "webhook_url_not_allowed"
    node = NodeFactory(tenant=alice.tenant)
    with pytest.raises(ApplicationError):
        tenant_services.node_update(node=node, actor=SYSTEM, webhook_url="http://192.168.0.1/")
    node.refresh_from_db()
    assert node.webhook_url == ""


@pytest.mark.django_db
def test_a_name_that_turns_private_after_saving_is_refused_at_delivery(alice, monkeypatch):
    """DNS rebinding: the name resolved to a public address when saved."""
    node = NodeFactory(tenant=alice.tenant, webhook_url="https://rebind.example.com/hook")
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("169.254.169.254", 443))]
    )
    record(node)
    pump(rounds=1)
    attempt = WebhookAttempt.objects.get()
    assert not attempt.succeeded and attempt.status_code is None
    assert "link-local" in attempt.error
