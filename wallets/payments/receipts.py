"""Receipt bundles: everything a merchant needs to show, offline, that an order was paid
once: the signed request, the payer's signed token, the redemption transaction, the keys
that verify both signatures and, once the transaction's day is closed, its inclusion proof
in the anchored Merkle root (``clearing/verify_receipt.py`` checks it all).

The proof is clearing's, a floor above: clearing registers how to make one
(``proof_source_register``) in its ``AppConfig.ready()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.errors import ApplicationError, Conflict
from sandbox.nodekeys import jws
from sandbox.nodekeys import selectors as key_selectors
from sandbox.tenants.models import Tenant
from wallets import presenters as ledger_presenters
from wallets.payments import presenters, services
from wallets.payments.models import PaymentRequest, Redemption
from wallets.selectors import transaction_entries

RECEIPT_FORMAT = "fsbx-payment-receipt/1"

# (tenant, transaction uuid) -> the proof document, or an ApplicationError (day not closed)
ProofSource = Callable[[Tenant, str], dict[str, Any]]
_proof_source: list[ProofSource] = []


def proof_source_register(source: ProofSource) -> None:
    """Called once, by clearing, in its ``AppConfig.ready()``."""
    _proof_source[:] = [source]


def _key_used(compact: str, typ: str) -> dict[str, Any]:
    key = key_selectors.key_by_kid(jws.parse(compact, typ=typ).kid)
    assert key is not None  # checked at redemption; keys are never deleted
    return {**key_selectors.key_json(key), "node_id": str(key.node_id)}


def receipt(*, tenant: Tenant, request: PaymentRequest) -> dict[str, Any]:
    """The bundle of a paid order (409 ``not_paid`` before it is)."""
    redemption = (
        Redemption.objects.select_related("authorization", "transaction")
        .filter(request=request)
        .first()
    )
    if redemption is None:
        raise Conflict("The order is not paid: there is no receipt yet.", code="not_paid")
    txn = redemption.transaction
    token = redemption.authorization.jws
    proof: dict[str, Any] | None = None
    proof_status = "unavailable"
    if _proof_source:
        try:
            proof = _proof_source[0](tenant, str(txn.uuid))
            proof_status = "included"
        except ApplicationError as error:
            proof_status = error.code
    return {
        "format": RECEIPT_FORMAT,
        "payment_request": presenters.request_json(request),
        "request_jws": request.jws,
        "token_jws": token,
        "jwks": {
            "keys": [
                _key_used(request.jws, services.REQUEST_TYP),
                _key_used(token, services.TOKEN_TYP),
            ]
        },
        "transaction": ledger_presenters.transaction_data(txn, transaction_entries(txn)),
        "proof_status": proof_status,
        "proof": proof,
    }
