"""What a redemption reads, in one round trip, and writes, with its COMMIT (PostgreSQL).

``services.payment_redeem`` checks the token against the request, its authorization and
the keys that signed both, each node on its own clock. It used to read them one ORM query
at a time (the request locked, then read again, each key, the authorization, each node's
clock) and write the redemption, the request, the expiry's cancellation and the audit
entry one statement each: 18 round trips. Here the reads are four statements sent in one
message (the API sends them with its idempotency claim, as the transfer API sends its
accounts: ``wallets.idempotency``, ``claim_along``), and the writes ride with the
transaction's next statement, the COMMIT (``sandbox.writebehind``).

The request is locked by the first statement and read by the second: each statement of a
message has its own snapshot, so a lock that waited for a concurrent redemption is
followed by a read that sees it (``services._lock`` says why not one statement). On
SQLite everything is read through the ORM, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection

from sandbox import writebehind
from sandbox.db.postgresql.prepared import prepared
from sandbox.events.models import ClockAttachment, TestClock
from sandbox.nodekeys import jws
from sandbox.nodekeys.models import NodeKey
from sandbox.rows import RowLoader
from sandbox.tenants.models import Node
from wallets.locking import Statement, run_together
from wallets.models import Account, Wallet
from wallets.payments.models import PaymentAuthorization, PaymentRequest, Redemption


@dataclass
class RedeemRead:
    """What a redemption needs, read in this transaction: the request (locked, of the
    tenant; None if it has no such request), the keys read (by kid: the token's, and the
    merchant node's keys), the authorization of the token for this request (None if none),
    and the owners and clocks (a test clock's frozen time, None when the node follows the
    platform clock) of the two nodes."""

    request: PaymentRequest | None = None
    merchant_tenant_id: UUID | None = None
    merchant_clock: datetime | None = None
    keys: dict[str, NodeKey | None] = field(default_factory=dict)
    authorization: PaymentAuthorization | None = None
    authorization_read: bool = False
    payer_tenant_id: UUID | None = None
    payer_clock: datetime | None = None
    payer_wallet_node_id: UUID | None = None  # the node of the paying account's wallet


def _columns(model: type[Any], alias: str) -> tuple[tuple[str, ...], str]:
    fields = model._meta.concrete_fields
    return (
        tuple(f.attname for f in fields),
        ", ".join(f"{alias}.{f.column}" for f in fields),
    )


_REQUEST_ATTS, _REQUEST_COLUMNS = _columns(PaymentRequest, "r")
_KEY_ATTS, _KEY_COLUMNS = _columns(NodeKey, "k")
_AUTHORIZATION_ATTS, _AUTHORIZATION_COLUMNS = _columns(PaymentAuthorization, "a")
_request_loaded = RowLoader(PaymentRequest, _REQUEST_ATTS)
_key_loaded = RowLoader(NodeKey, _KEY_ATTS)
_authorization_loaded = RowLoader(PaymentAuthorization, _AUTHORIZATION_ATTS)
_REQUESTS = PaymentRequest._meta.db_table
_CLOCK = f"""LEFT JOIN {ClockAttachment._meta.db_table} AS {{0}}ca ON {{0}}ca.node_id = {{1}}
  LEFT JOIN {TestClock._meta.db_table} AS {{0}}tc ON {{0}}tc.id = {{0}}ca.clock_id"""

# FOR UPDATE, as ``services._lock``: the request's row first (``wallets.locking``).
_LOCK_SQL = prepared(
    "redeem_lock",
    f"SELECT r.id FROM {_REQUESTS} AS r"
    " WHERE r.id = %(rid)s::uuid AND r.tenant_id = %(tenant)s::uuid FOR UPDATE",
)
_REQUEST_SQL = prepared(
    "redeem_request",
    f"""
SELECT {_REQUEST_COLUMNS}, n.tenant_id, mtc.frozen_time
  FROM {_REQUESTS} AS r
  JOIN {Node._meta.db_table} AS n ON n.id = r.node_id
  {_CLOCK.format("m", "r.node_id")}
 WHERE r.id = %(rid)s::uuid AND r.tenant_id = %(tenant)s::uuid
""",
)
# The token's key, and the merchant node's keys (the request's is one of them).
_KEYS_SQL = prepared(
    "redeem_keys",
    f"""
SELECT {_KEY_COLUMNS}
  FROM {NodeKey._meta.db_table} AS k
 WHERE k.kid = %(kid)s::varchar
    OR k.node_id = (SELECT r.node_id FROM {_REQUESTS} AS r
                     WHERE r.id = %(rid)s::uuid AND r.tenant_id = %(tenant)s::uuid)
""",
)
_AUTHORIZATION_SQL = prepared(
    "redeem_authorization",
    f"""
SELECT {_AUTHORIZATION_COLUMNS}, pn.tenant_id, ptc.frozen_time, w.node_id
  FROM {PaymentAuthorization._meta.db_table} AS a
  JOIN {Node._meta.db_table} AS pn ON pn.id = a.node_id
  JOIN {Account._meta.db_table} AS acc ON acc.id = a.account_id
  LEFT JOIN {Wallet._meta.db_table} AS w ON w.id = acc.wallet_id
  {_CLOCK.format("p", "a.node_id")}
 WHERE a.token_hash = %(hash)s::varchar AND a.request_id = %(rid)s::uuid
""",
)


def statements(
    *, tenant_id: UUID, request_id: UUID, token: Any, into: RedeemRead
) -> list[Statement]:
    """The reads of a redemption of ``request_id`` (of ``tenant_id``) with ``token``, their
    rows kept ``into``: for a caller to send in one round trip (PostgreSQL). A token that
    does not parse gets neither its key nor its authorization read: it is refused first."""
    params: dict[str, Any] = {"rid": request_id, "tenant": tenant_id}

    def request_done(rows: list[tuple[Any, ...]]) -> None:
        into.request = into.merchant_tenant_id = into.merchant_clock = None
        if rows:
            row = rows[0]
            into.request = _request_loaded(row[: len(_REQUEST_ATTS)])
            into.merchant_tenant_id, into.merchant_clock = row[len(_REQUEST_ATTS) :]

    reads = [
        Statement(_LOCK_SQL, params, lambda rows: None),
        Statement(_REQUEST_SQL, params, request_done),
    ]
    try:
        kid = jws.parse(token, typ=TOKEN_TYP).kid
        token_hash = jws.digest(token)
    except (jws.JwsError, UnicodeError):
        return reads

    def keys_done(rows: list[tuple[Any, ...]]) -> None:
        into.keys = {kid: None}  # asked: absent unless found
        into.keys.update((key.kid, key) for key in _key_loaded.many(rows))

    def authorization_done(rows: list[tuple[Any, ...]]) -> None:
        into.authorization_read, into.authorization = True, None
        if rows:
            row = rows[0]
            into.authorization = _authorization_loaded(row[: len(_AUTHORIZATION_ATTS)])
            (into.payer_tenant_id, into.payer_clock, into.payer_wallet_node_id) = row[
                len(_AUTHORIZATION_ATTS) :
            ]

    return [
        *reads,
        Statement(_KEYS_SQL, {**params, "kid": kid}, keys_done),
        Statement(_AUTHORIZATION_SQL, {**params, "hash": token_hash}, authorization_done),
    ]


TOKEN_TYP = "fsbx.payment-token+jws"  # services.TOKEN_TYP (services imports this module)


def read(*, tenant_id: UUID, request_id: UUID, token: Any) -> RedeemRead | None:
    """``statements``, sent now in one round trip; None on SQLite (the ORM reads)."""
    if connection.vendor != "postgresql":
        return None
    found = RedeemRead()
    run_together(statements(tenant_id=tenant_id, request_id=request_id, token=token, into=found))
    return found


_REDEMPTION_SQL = prepared(
    "redeem_paid",
    f"""
WITH paid AS (
    UPDATE {_REQUESTS} SET status = %(status)s, transaction_id = %(txn)s, paid_at = %(at)s
     WHERE id = %(rid)s
)
INSERT INTO {Redemption._meta.db_table} (request_id, authorization_id, transaction_id, created_at)
VALUES (%(rid)s, %(authorization)s, %(txn)s, %(at)s)
""",
)


def paid_write(request: PaymentRequest, authorization: PaymentAuthorization) -> None:
    """Write the redemption and the request as paid (``request`` says by which transaction
    and when): on PostgreSQL one statement, with the transaction's next one."""
    assert request.transaction_id is not None and request.paid_at is not None
    if connection.vendor != "postgresql":
        Redemption.objects.create(
            request=request,
            authorization=authorization,
            transaction_id=request.transaction_id,
            created_at=request.paid_at,
        )
        request.save(update_fields=["status", "transaction", "paid_at"])
        return
    params = {
        "status": request.status,
        "txn": request.transaction_id,
        "at": request.paid_at,
        "rid": request.pk,
        "authorization": authorization.pk,
    }
    writebehind.write(_REDEMPTION_SQL, params)
