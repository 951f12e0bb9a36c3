"""How payment requests, authorizations and refunds look from outside: API, webhooks and
dashboard share these. Nothing here shows the payer's account to the merchant side."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

from sandbox.currencies import to_decimal_string
from wallets.payments.models import PaymentAuthorization, PaymentRequest, Refund


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _public(name: str, request_id: uuid.UUID) -> str:
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    head, tail = _path_around_id(name, urlconf, get_script_prefix())
    return settings.SANDBOX_BASE_URL.rstrip("/") + head + request_id.hex + tail


_MARKER = "f" * 32  # where the id goes (a ``str`` converter: any id reverses alike)


@functools.lru_cache(maxsize=64)
def _path_around_id(name: str, urlconf: Any, prefix: str) -> tuple[str, str]:
    """The path of route ``name`` before and after its request id: ``reverse`` once per
    route (and URLconf and script prefix), not three times for every request shown."""
    path = reverse(f"payments-public:{name}", kwargs={"request_id": _MARKER}, urlconf=urlconf)
    head, marker, tail = path.rpartition(_MARKER)
    assert marker, path
    return head, tail


def request_url(request_id: uuid.UUID) -> str:
    """The public URL that serves the signed request (``application/jose``); in the QR."""
    return _public("request-jws", request_id)


def request_id_of_url(url: str) -> str | None:
    """The request a QR's URL names, when it is one of this sandbox's (else None)."""
    prefix = request_url(uuid.UUID(int=0))[: -len(uuid.UUID(int=0).hex)]
    if not url.startswith(prefix):
        return None
    try:
        return str(uuid.UUID(hex=url[len(prefix) :]))
    except ValueError:
        return None


def request_json(request: PaymentRequest) -> dict[str, Any]:
    currency = request.currency
    return {
        "id": str(request.pk),
        "node_id": str(request.node_id),
        "account_id": str(request.account_id),
        "order_id": request.order_id,
        "amount": to_decimal_string(request.amount, currency),
        "currency": currency,
        "description": request.description,
        "status": request.status,
        "refunded_amount": to_decimal_string(request.refunded_amount, currency),
        "url": request_url(request.pk),
        "qr_png_url": _public("request-qr-png", request.pk),
        "qr_svg_url": _public("request-qr-svg", request.pk),
        "qr_payload": request.qr_payload,
        "request_hash": request.request_hash,
        "jws": request.jws,
        "transaction_id": str(request.transaction.uuid) if request.transaction else None,
        "created_at": _iso(request.created_at),
        "expires_at": _iso(request.expires_at),
        "authorized_at": _iso(request.authorized_at),
        "paid_at": _iso(request.paid_at),
        "closed_at": _iso(request.closed_at),
    }


def authorization_json(authorization: PaymentAuthorization) -> dict[str, Any]:
    """As the payer's node sees its authorization: the token to hand to the merchant."""
    return {
        "id": str(authorization.pk),
        "payment_request_id": str(authorization.request_id),
        "payer_node_id": str(authorization.node_id),
        "payer_account_id": str(authorization.account_id),
        "token": authorization.jws,
        "token_hash": authorization.token_hash,
        "created_at": _iso(authorization.created_at),
        "expires_at": _iso(authorization.expires_at),
    }


def refund_json(refund: Refund) -> dict[str, Any]:
    currency = refund.request.currency
    return {
        "id": str(refund.pk),
        "payment_request_id": str(refund.request_id),
        "amount": to_decimal_string(refund.amount, currency),
        "currency": currency,
        "reason": refund.reason,
        "transaction_id": str(refund.transaction.uuid),
        "created_at": _iso(refund.created_at),
    }
