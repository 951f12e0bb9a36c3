"""The ledger's events: what ``wallets.services`` records, in the transaction of each change,
for the webhooks of the nodes whose accounts the change touches (docs/webhooks.md).

An event goes once to each node that owns an account whose balances or status the change
alters; platform accounts belong to no node and get none. The data is the object as the API
shows it (``wallets.presenters``). Bank transfers of the bank network are ``transfer.*``;
the ledger's own transfers between virtual accounts are therefore ``ledger_transfer.*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from django.db.models import F

from sandbox.events.services import NewEvent, event_record, events_record
from sandbox.tenants.models import Node
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


def _nodes_of_accounts(account_ids: Iterable[UUID]) -> list[Node]:
    """The nodes owning these accounts, each once, in a fixed order (one query)."""
    nodes = (
        Node.objects.filter(wallet__accounts__in=set(account_ids))
        .select_related("tenant")
        .distinct()
        .order_by("pk")
    )
    return list(nodes)


def _nodes_by_wallet(wallet_ids: Iterable[UUID | None]) -> dict[UUID, Node]:
    ids = {w for w in wallet_ids if w is not None}
    if not ids:
        return {}
    nodes = Node.objects.filter(wallet__in=ids).annotate(wallet_pk=F("wallet__id"))
    return {node.wallet_pk: node for node in nodes}


def _record(
    nodes: Iterable[Node], type: str, obj: Any, data: dict[str, Any], object_id: str | None = None
) -> None:
    for node in nodes:
        event_record(tenant=None, node=node, type=type, obj=obj, data=data, object_id=object_id)


def hold_recorded(type: str, hold: Hold) -> None:
    """A hold changed: its account's node hears of it; a capture also moves money to the
    counterparty, whose node (if another) hears of it too."""
    accounts = [hold.account_id]
    if type == HOLD_CAPTURED:
        accounts.append(hold.counterparty_id)
    _record(_nodes_of_accounts(accounts), type, hold, presenters.hold_data(hold))


def transaction_recorded(type: str, result: Result) -> None:
    """A ledger transaction was posted (a transfer or a reversal): each node whose accounts
    it moves gets one event, the transaction with its entries."""
    txn = result.transaction
    _record(
        _nodes_of_accounts(leg.account_id for leg in result.entries),
        type,
        txn,
        presenters.transaction_data(txn, list(result.entries)),
        object_id=str(txn.uuid),
    )


def transfers_recorded(pairs: Sequence[tuple[Account, Account]], results: Sequence[Result]) -> None:
    """``ledger_transfer.posted`` for each posted transfer of a bulk, with one query for the
    nodes and one INSERT for the events. ``pairs`` holds each result's source and
    destination."""
    nodes = _nodes_by_wallet(a.wallet_id for pair in pairs for a in pair)
    events = []
    as_object = LedgerTransaction()  # names the object type; object_id is the uuid
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
        wallets = [source.wallet_id]
        if destination.wallet_id != source.wallet_id:
            wallets.append(destination.wallet_id)
        for wallet_id in wallets:
            node = nodes.get(wallet_id) if wallet_id is not None else None
            if node is not None:
                events.append(
                    NewEvent(
                        node=node,
                        type=TRANSFER_POSTED,
                        obj=as_object,
                        data=data,
                        object_id=object_id,
                    )
                )
    events_record(events)
