"""The ledger's events: what ``wallets.services`` records, in the transaction of each change,
for the webhooks of the nodes whose accounts the change touches (docs/webhooks.md).

An event goes once to each node that owns an account whose balances or status the change
alters; platform accounts belong to no node and get none. The data is the object as the API
shows it (``wallets.presenters``; for a bulk's transfers on PostgreSQL, the same shape built
by the INSERT itself, held to the presenter by a test). Bank transfers of the bank network
are ``transfer.*``; the ledger's own transfers between virtual accounts are therefore
``ledger_transfer.*``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from sandbox import clock
from sandbox.currencies import to_decimal_string
from sandbox.db.arrays import array_literal, text_array
from sandbox.events.models import Event, epoch_microseconds
from sandbox.events.services import NewEvent, events_insert, events_record
from wallets import presenters
from wallets.models import Account, Hold, LedgerTransaction
from wallets.posting import Result

# An account's events go with their audit entry (``wallets.services``, ``action_record``).
ACCOUNT_CREATED = "account.created"
ACCOUNT_CLOSED = "account.closed"
TRANSFER_POSTED = "ledger_transfer.posted"
HOLD_PLACED = "hold.placed"
HOLD_CAPTURED = "hold.captured"
HOLD_VOIDED = "hold.voided"
HOLD_EXPIRED = "hold.expired"
TRANSACTION_REVERSED = "transaction.reversed"


def _owners(result: Result, account_ids: Iterable[UUID]) -> list[tuple[UUID, UUID, datetime]]:
    """The nodes owning these accounts, each once, in the order of the accounts, as (node,
    its tenant, its time): from the accounts the posting locked, which carry their owners,
    so that the events cost no query (the platform clock is read at most once)."""
    owners: dict[UUID, tuple[UUID, datetime | None]] = {}
    for account_id in account_ids:
        state = result.accounts[account_id]
        node_id, tenant_id = state["node_id"], state["node_tenant_id"]
        if node_id is not None and tenant_id is not None:
            owners[node_id] = (tenant_id, state["node_clock_time"])
    platform_now: datetime | None = None
    found = []
    for node_id, (tenant_id, node_time) in owners.items():
        if node_time is None:  # it follows the platform clock
            platform_now = platform_now or clock.now()
            node_time = platform_now
        found.append((node_id, tenant_id, node_time))
    return found


def _record(
    result: Result,
    account_ids: Iterable[UUID],
    type: str,
    obj: Any,
    data: dict[str, Any],
    object_id: str | None = None,
) -> None:
    """One event per node owning one of ``account_ids`` (locked by ``result``'s posting),
    in node-id order, written with one INSERT."""
    events_record(
        [
            NewEvent(
                node_id=node_id,
                tenant_id=tenant_id,
                type=type,
                obj=obj,
                data=data,
                object_id=object_id,
                occurred_at=node_time,
            )
            for node_id, tenant_id, node_time in sorted(_owners(result, account_ids))
        ]
    )


def hold_recorded(type: str, hold: Hold, result: Result) -> None:
    """A hold changed (``result`` is the posting of its balances): its account's node hears
    of it; a capture also moves money to the counterparty, whose node (if another) hears
    of it too."""
    accounts = [hold.account_id]
    if type == HOLD_CAPTURED:
        accounts.append(hold.counterparty_id)
    _record(result, accounts, type, hold, presenters.hold_data(hold))


def transaction_recorded(type: str, result: Result) -> None:
    """A ledger transaction was posted (a transfer or a reversal): each node whose accounts
    it moves gets one event, the transaction with its entries."""
    txn = result.transaction
    _record(
        result,
        (leg.account_id for leg in result.entries),
        type,
        txn,
        presenters.result_data(result),
        object_id=str(txn.uuid),
    )


def transfers_recorded(pairs: Sequence[tuple[Account, Account]], results: Sequence[Result]) -> None:
    """``ledger_transfer.posted`` for each posted transfer of a bulk: one event per node
    owning its source or destination (the source's first), with one INSERT and no query
    for their nodes (the posting locked the accounts and read their owners). ``pairs``
    holds each result's source and destination."""
    posted = [(pair, result) for pair, result in zip(pairs, results, strict=True) if result.ok]
    if not posted:
        return
    if connection.vendor == "postgresql":
        _transfers_insert(posted)
        return
    events = []
    as_object = LedgerTransaction()  # names the object type; object_id is the uuid
    owners: dict[tuple[UUID, UUID], list[tuple[UUID, UUID, datetime]]] = {}
    for (source, destination), result in posted:
        row = result.row
        assert row is not None
        # presenters read only attributes, and the row has them all (``reverses`` is read
        # only when ``reverses_id`` is set, never for a transfer).
        data = presenters.transaction_data(row, list(result.entries))  # type: ignore[arg-type]
        key = (source.pk, destination.pk)
        if key not in owners:  # a bulk's pairs repeat. The source's node comes first.
            owners[key] = _owners(result, key)
        for node_id, tenant_id, node_time in owners[key]:
            events.append(
                NewEvent(
                    node_id=node_id,
                    tenant_id=tenant_id,
                    type=TRANSFER_POSTED,
                    obj=as_object,
                    data=data,
                    object_id=str(row.uuid),
                    occurred_at=node_time,
                )
            )
    events_record(events)


# The events of a bulk's transfers, one row per node owning the source or the destination
# (the source's first; the destination's unless it is the same node), their data built by
# PostgreSQL: what ``presenters.transaction_data`` makes of a transfer (two entries, the
# source's debit first; its amount as ``to_decimal_string`` wrote it, positive). Every
# value comes in arrays, one element per transfer, and the owning nodes by their position
# in the batch's short list of nodes: no join, so no plan that statistics could spoil.
# ``created_at`` keeps the order recorded, two microseconds per transfer (no sort); the id
# is made from it (``events_event_id``, events migration 0006: time-ordered).
# ``tests/wallets/test_events.py`` holds both writers to the presenter's output.
_TRANSFER_EVENTS_SQL = f"""
INSERT INTO {Event._meta.db_table}
       (id, tenant_id, node_id, type, object_type, object_id, data, occurred_at, created_at)
SELECT events_event_id(%(created_us)s::bigint + 2 * t.i + e.side - 3), n.tenant[e.owner],
       n.node[e.owner], %(type)s, %(object_type)s, t.uuid, t.data, n.at[e.owner],
       %(created_at)s::timestamptz + (2 * t.i + e.side - 3) * interval '1 microsecond'
  FROM (SELECT u.i, u.uuid, u.source_owner, u.destination_owner,
               jsonb_build_object(
                   'id', u.uuid, 'kind', %(kind)s::text,
                   'amount', jsonb_build_object('amount', u.amount, 'currency', u.currency),
                   'memo', u.memo, 'metadata', u.metadata::jsonb,
                   'is_inter_node', u.inter_node, 'reverses', NULL,
                   'posted_at', %(posted_at)s::text,
                   'entries', jsonb_build_array(
                       jsonb_build_object('account_id', u.source, 'direction', 'debit',
                                          'amount', '-' || u.amount, 'currency', u.currency),
                       jsonb_build_object('account_id', u.destination, 'direction', 'credit',
                                          'amount', u.amount, 'currency', u.currency))) AS data
          FROM unnest(%(uuid)s::text[], %(source)s::text[], %(destination)s::text[],
                      %(amount)s::text[], %(currency)s::text[], %(memo)s::text[],
                      %(metadata)s::text[], %(inter_node)s::boolean[],
                      %(source_owner)s::int[], %(destination_owner)s::int[])
               WITH ORDINALITY AS u(uuid, source, destination, amount, currency, memo,
                                    metadata, inter_node, source_owner, destination_owner, i)
        OFFSET 0  -- each payload built once, not once per event: keep the subquery apart
       ) AS t
 CROSS JOIN (SELECT %(node)s::uuid[] AS node, %(tenant)s::uuid[] AS tenant,
                    %(occurred_at)s::timestamptz[] AS at) AS n
 CROSS JOIN LATERAL (VALUES (1, t.source_owner), (2, t.destination_owner)) AS e(side, owner)
 WHERE e.owner > 0 AND (e.side = 1 OR e.owner <> t.source_owner)
"""


def _transfers_insert(posted: Sequence[tuple[tuple[Account, Account], Result]]) -> None:
    """``transfers_recorded`` on PostgreSQL: each column goes as one array literal (psycopg
    would quote 8,000 values one by one), the accounts' owners as positions in the list of
    the batch's nodes (0: none, a platform account)."""
    first = posted[0][1]
    assert first.row is not None
    kind, posted_at = first.row.kind, first.row.posted_at
    nodes = _Nodes(first)
    owner_of = nodes.of
    # One list per column, appended to directly: a bulk has 8,000 transfers.
    uuids: list[str] = []
    sources: list[str] = []
    destinations: list[str] = []
    source_owners: list[str] = []
    destination_owners: list[str] = []
    amounts: list[str] = []
    currencies: list[str] = []
    memos: list[str] = []
    metadata: list[str] = []
    inter_node: list[str] = []
    formatted: dict[tuple[int, str], str] = {}  # a bulk's amounts repeat
    for (source, destination), result in posted:
        row = result.row
        assert row is not None and row.kind == kind and row.posted_at is posted_at
        amount = formatted.get((row.amount, row.currency))
        if amount is None:
            amount = formatted[row.amount, row.currency] = to_decimal_string(
                row.amount, row.currency
            )
        text, owner = owner_of(source.id)
        sources.append(text)
        source_owners.append(owner)
        text, owner = owner_of(destination.id)
        destinations.append(text)
        destination_owners.append(owner)
        uuids.append(str(row.uuid))
        amounts.append(amount)
        currencies.append(row.currency)
        memos.append(row.memo)
        metadata.append(_json(row.metadata))
        inter_node.append("t" if row.is_inter_node else "f")
    created_at = timezone.now()
    # Text that may hold anything is quoted (``text_array``); ids, numbers and booleans not.
    params: dict[str, Any] = {
        "uuid": array_literal(uuids),
        "source": array_literal(sources),
        "destination": array_literal(destinations),
        "source_owner": array_literal(source_owners),
        "destination_owner": array_literal(destination_owners),
        "amount": array_literal(amounts),
        "currency": text_array(currencies),
        "memo": text_array(memos),
        "metadata": text_array(metadata),
        "inter_node": array_literal(inter_node),
    }
    params.update(
        node=array_literal(nodes.node),
        tenant=array_literal(nodes.tenant),
        occurred_at=array_literal(nodes.at),
        kind=kind,
        posted_at=presenters.iso(posted_at),
        type=TRANSFER_POSTED,
        object_type=LedgerTransaction._meta.model_name,
        created_at=created_at,
        created_us=epoch_microseconds(created_at),
    )
    events_insert(_TRANSFER_EVENTS_SQL, params, count=2 * len(posted))


def _json(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, cls=DjangoJSONEncoder) if metadata else "{}"


class _Nodes:
    """The nodes owning the accounts a batch locked, numbered from 1 in the order met, with
    their tenants and times (a test clock's, or the platform's, read at most once)."""

    def __init__(self, result: Result) -> None:
        self.accounts = result.accounts
        self.node: list[str] = []
        self.tenant: list[str] = []
        self.at: list[str] = []
        self._position: dict[UUID, str] = {}
        self._account: dict[UUID, tuple[str, str]] = {}
        self._platform_now: datetime | None = None

    def of(self, account_id: UUID) -> tuple[str, str]:
        """The account's id as text, and its node's position ("0": it has none)."""
        found = self._account.get(account_id)
        if found is None:
            found = self._account[account_id] = (str(account_id), self._owner(account_id))
        return found

    def _owner(self, account_id: UUID) -> str:
        state = self.accounts[account_id]
        node_id, tenant_id = state["node_id"], state["node_tenant_id"]
        if node_id is None or tenant_id is None:
            return "0"
        if node_id not in self._position:
            node_time = state["node_clock_time"]
            if node_time is None:  # it follows the platform clock
                self._platform_now = self._platform_now or clock.now()
                node_time = self._platform_now
            self.node.append(str(node_id))
            self.tenant.append(str(tenant_id))
            self.at.append(node_time.isoformat())
            self._position[node_id] = str(len(self.node))
        return self._position[node_id]
