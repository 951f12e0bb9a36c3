"""The ledger's events: what ``wallets.services`` records, in the transaction of each change,
for the webhooks of the nodes whose accounts the change touches (docs/webhooks.md).

An event goes once to each node that owns an account whose balances or status the change
alters; platform accounts belong to no node and get none. The data is the object as the API
shows it (``wallets.presenters``). Bank transfers of the bank network are ``transfer.*``;
the ledger's own transfers between virtual accounts are therefore ``ledger_transfer.*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sandbox import clock
from sandbox.events.services import NewEvent, events_record
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
        presenters.transaction_data(txn, list(result.entries)),
        object_id=str(txn.uuid),
    )


def transfers_recorded(pairs: Sequence[tuple[Account, Account]], results: Sequence[Result]) -> None:
    """``ledger_transfer.posted`` for each posted transfer of a bulk, with one INSERT for
    the events and no query for their nodes (the posting locked the accounts and read
    their owners). ``pairs`` holds each result's source and destination."""
    events = []
    as_object = LedgerTransaction()  # names the object type; object_id is the uuid
    owners: dict[tuple[UUID, UUID], list[tuple[UUID, UUID, datetime]]] = {}
    for (source, destination), result in zip(pairs, results, strict=True):
        if not result.ok:
            continue
        # The transaction's columns, without making 8,000 model instances (a third of the
        # cost of the events): presenters read only attributes, and the row has them all
        # (``reverses`` is read only when ``reverses_id`` is set, never for a transfer).
        row = result.row
        assert row is not None
        data = presenters.transaction_data(row, list(result.entries))  # type: ignore[arg-type]
        object_id = str(row.uuid)
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
                    object_id=object_id,
                    occurred_at=node_time,
                )
            )
    events_record(events)
