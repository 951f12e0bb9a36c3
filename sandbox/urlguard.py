"""Where webhooks may go. URLs whose host is (or resolves to) a private, link-local or
otherwise non-public address are refused unless ``SANDBOX_WEBHOOK_ALLOW_PRIVATE`` is on;
loopback needs ``SANDBOX_WEBHOOK_ALLOW_LOOPBACK`` (on in development and tests).

Checked twice: when a node's URL is saved, and again at every delivery, where the request
then goes to the very address that was checked, so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from sandbox.errors import ApplicationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(ApplicationError):
    default_code = "webhook_url_not_allowed"

    def __init__(self, message: str) -> None:
        super().__init__(message, fields={"webhook_url": [message]})


@dataclass(frozen=True)
class DeliveryTarget:
    connect_url: str  # the URL with the checked IP address in place of the host name
    host_header: str
    sni_hostname: str | None  # for https: the name the certificate must match
    ip_address: str


# IPv6 forms that carry an IPv4 address inside them. A request to one of these reaches (or
# may reach, through a translator or relay) the embedded IPv4 address, so that address is
# what gets checked, by the same rules as a plain one.
_NAT64_PREFIXES = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # RFC 6052 well-known prefix
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # RFC 8215 local-use prefix
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291, deprecated


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address embeds: IPv4-mapped, Teredo (server and client),
    6to4, NAT64 and IPv4-compatible forms; empty for any other address."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.teredo is not None:  # 2001::/32: (server, client), client bits already un-inverted
        return ip.teredo
    if ip.sixtofour is not None:  # 2002::/16: bits 16-48
        return (ip.sixtofour,)
    last_32_bits = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in prefix for prefix in _NAT64_PREFIXES):
        return (last_32_bits,)
    # "::" and "::1" are the IPv6 unspecified and loopback addresses, not IPv4-compatible ones.
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return (last_32_bits,)
    return ()


def _refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` may not receive webhooks, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)):
        for ipv4 in embedded:
            if reason := _plain_refusal(ipv4):
                return f"{ip} embeds the IPv4 address {ipv4}: {reason}"
        if ip.teredo is None:
            # The IPv6 form only reaches the embedded address, which passed.
            return None
        # Teredo: both embedded addresses passed; 2001::/32 itself is still judged as IPv6
        # (not globally reachable, so only SANDBOX_WEBHOOK_ALLOW_PRIVATE lets it through).
    return _plain_refusal(ip)


def _plain_refusal(ip: IPAddress) -> str | None:
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} cannot receive webhooks."
    if ip.is_loopback:
        if settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK or settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE:
            return None
        return f"{ip} is a loopback address; webhooks go to public addresses only."
    if not ip.is_global:
        if settings.SANDBOX_WEBHOOK_ALLOW_PRIVATE:
            return None
        kind = "link-local" if ip.is_link_local else "private or reserved"
        return f"{ip} is a {kind} address; webhooks go to public addresses only."
    return None


def _split(url: str):
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeWebhookUrl("This is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookUrl("Webhook URLs start with https:// or http://.")
    if not parts.hostname:
        raise UnsafeWebhookUrl("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("Webhook URLs may not carry a user name or password.")
    return parts, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # Scoped IPv6 answers ("fe80::1%eth0") carry their zone after a percent sign.
    # The address is a string for AF_INET and AF_INET6, the only families asked for here.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def validate_webhook_url(url: str) -> None:
    """For node create/update: refuse URLs that point into private ranges. A name that does
    not resolve yet is accepted; the delivery-time check still applies."""
    if not url:
        return
    _, host, port = _split(url)
    try:
        addresses = _resolve(host, port)
    except (socket.gaierror, UnicodeError):
        return
    for ip in addresses:
        if reason := _refusal(ip):
            raise UnsafeWebhookUrl(reason)


def resolve_for_delivery(url: str) -> DeliveryTarget:
    """Resolve and check ``url`` now, and say where to connect."""
    parts, host, port = _split(url)
    try:
        addresses = _resolve(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl(f"The host {host} cannot be resolved ({exc}).") from None
    if not addresses:
        raise UnsafeWebhookUrl(f"The host {host} has no address.")
    for ip in addresses:
        if reason := _refusal(ip):
            raise UnsafeWebhookUrl(reason)
    ip = addresses[0]
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    connect_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]
    is_name = host != str(ip)
    return DeliveryTarget(
        connect_url=connect_url,
        host_header=host_header,
        sni_hostname=host if parts.scheme == "https" and is_name else None,
        ip_address=str(ip),
    )
