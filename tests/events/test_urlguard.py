"""Webhook URLs into private or link-local ranges are refused, at save and at delivery."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from sandbox.errors import ApplicationError
from sandbox.events.models import WebhookAttempt
from sandbox.tenants import services as tenant_services
from sandbox.tenants.services import SYSTEM
from sandbox.urlguard import resolve_for_delivery, validate_webhook_url
from tests.factories import NodeFactory
from tests.helpers import pump, record


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


# IPv6 forms that embed an IPv4 address are judged by the embedded address.
# Teredo 2001:0:SERVER:flags:port:~CLIENT; these literals are built with
# (0x20010000 << 96) | (server << 64) | (client ^ 0xFFFFFFFF).
EMBEDDING_FORMS = {
    "nat64": lambda v4: f"64:ff9b::{v4}",
    "nat64-local-use": lambda v4: f"64:ff9b:1::{v4}",
    "6to4": lambda v4: "2002:{:02x}{:02x}:{:02x}{:02x}::1".format(*map(int, v4.split("."))),
    "ipv4-compatible": lambda v4: f"::{v4}",
    "ipv4-mapped": lambda v4: f"::ffff:{v4}",
    "teredo-client": lambda v4: str(
        ipaddress.IPv6Address(
            (0x20010000 << 96)
            | (int(ipaddress.IPv4Address("8.8.8.8")) << 64)
            | (int(ipaddress.IPv4Address(v4)) ^ 0xFFFFFFFF)
        )
    ),
    "teredo-server": lambda v4: str(
        ipaddress.IPv6Address(
            (0x20010000 << 96)
            | (int(ipaddress.IPv4Address(v4)) << 64)
            | (int(ipaddress.IPv4Address("8.8.4.4")) ^ 0xFFFFFFFF)
        )
    ),
}
REFUSED_IPV4 = {
    "10.0.0.1": "private or reserved",
    "192.168.1.1": "private or reserved",
    "172.16.0.1": "private or reserved",
    "100.64.0.1": "private or reserved",  # carrier-grade NAT
    "169.254.169.254": "link-local",  # cloud metadata
    "127.0.0.1": "loopback",
    "0.0.0.0": "cannot receive webhooks",
    "224.0.0.1": "cannot receive webhooks",
}


def _literal(form, v4):
    return f"http://[{EMBEDDING_FORMS[form](v4)}]/hook"


@pytest.mark.parametrize("form", EMBEDDING_FORMS)
@pytest.mark.parametrize("v4", REFUSED_IPV4)
def test_ipv6_forms_embedding_a_refused_ipv4_address_are_refused(form, v4, settings):
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = False
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ApplicationError) as refused:
        validate_webhook_url(_literal(form, v4))
    message = refused.value.fields["webhook_url"][0]
    if (form, v4) == ("ipv4-compatible", "0.0.0.0"):  # that is "::", unspecified as IPv6
        assert message == ":: cannot receive webhooks."
        return
    assert f"embeds the IPv4 address {v4}" in message
    assert REFUSED_IPV4[v4] in message


@pytest.mark.parametrize("form", EMBEDDING_FORMS)
@pytest.mark.parametrize("v4", ["10.0.0.1", "169.254.169.254"])
def test_the_private_allowance_applies_to_the_embedded_address(form, v4, settings):
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = False
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = True
    validate_webhook_url(_literal(form, v4))


@pytest.mark.parametrize("form", [f for f in EMBEDDING_FORMS if not f.startswith("teredo")])
def test_the_loopback_allowance_applies_to_the_embedded_address(form, settings):
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = True
    validate_webhook_url(_literal(form, "127.0.0.1"))
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(ApplicationError):
        validate_webhook_url(_literal(form, "127.0.0.1"))


@pytest.mark.parametrize("form", ["nat64", "nat64-local-use", "6to4", "ipv4-compatible"])
def test_ipv6_forms_embedding_a_public_ipv4_address_pass(form, settings):
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    validate_webhook_url(_literal(form, "8.8.8.8"))


def test_ipv4_mapped_public_address_passes_but_unspecified_and_multicast_never_do(settings):
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = True
    validate_webhook_url("http://[::ffff:8.8.8.8]/hook")
    for v4 in ("0.0.0.0", "224.0.0.1"):
        for form in EMBEDDING_FORMS:
            with pytest.raises(ApplicationError):
                validate_webhook_url(_literal(form, v4))


def test_teredo_stays_refused_even_with_public_embedded_addresses(settings):
    """2001::/32 is not globally reachable (IANA), so, as before, only the private
    allowance lets it through."""
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ApplicationError) as refused:
        validate_webhook_url(_literal("teredo-client", "8.8.8.8"))
    assert "embeds" not in refused.value.fields["webhook_url"][0]


def test_ipv6_loopback_and_unspecified_are_not_read_as_ipv4_compatible(settings):
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = True
    validate_webhook_url("http://[::1]/hook")
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(ApplicationError) as refused:
        validate_webhook_url("http://[::1]/hook")
    assert "::1 is a loopback address" in refused.value.fields["webhook_url"][0]
    with pytest.raises(ApplicationError):
        validate_webhook_url("http://[::]/hook")


@pytest.mark.parametrize("form", EMBEDDING_FORMS)
def test_delivery_refuses_a_name_resolving_to_an_embedding_form(form, monkeypatch, settings):
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    address = EMBEDDING_FORMS[form]("169.254.169.254")
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(10, 1, 6, "", (address, 443, 0, 0))]
    )
    with pytest.raises(ApplicationError) as refused:
        resolve_for_delivery("https://hooks.example.com/x")
    assert "embeds the IPv4 address 169.254.169.254" in str(refused.value.fields)


def test_delivery_to_a_name_resolving_to_public_nat64_connects_to_it(monkeypatch, settings):
    settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(10, 1, 6, "", ("64:ff9b::808:808", 443, 0, 0))]
    )
    target = resolve_for_delivery("https://hooks.example.com/x")
    assert target.connect_url == "https://[64:ff9b::808:808]/x"
    assert target.sni_hostname == "hooks.example.com"
