"""Net debit caps: how far below zero a node's unsettled inter-node position may go.

An operator sets a node's caps with its settlement contract (``clearing.settlement.
contract_set``, amounts parsed by ``parse_caps``). The ledger asks ``check_postings`` before
every batch of postings (it is registered in ``wallets.posting.POSTING_CHECKS`` by
``clearing.apps``): an inter-node posting that would take a paying node's position since
its last settled window below minus its cap is refused, with the reason.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from uuid import UUID

from django.db import connection
from django.db.models import Q, Sum

from clearing.encoding import day_bounds
from clearing.models import NetDebitCap, SettlementWindow
from clearing.settlement import cycle_of, node_cycles
from sandbox import writebehind
from sandbox.currencies import AmountError, CurrencyCode, to_decimal_string, to_minor_units
from sandbox.db.postgresql.prepared import prepared
from sandbox.errors import ApplicationError, Unprocessable
from wallets.locking import Statement
from wallets.models import Account, Entry, Wallet
from wallets.posting import Posting, read_ahead_keep, read_ahead_take


def parse_caps(caps: dict[str, str]) -> dict[str, int]:
    """Net debit caps given as decimal strings per currency, in minor units (400 on a bad
    currency or amount; zero is allowed: no inter-node debit at all)."""
    parsed = {}
    for currency, amount in caps.items():
        if currency not in CurrencyCode.values:
            raise ApplicationError(f"Unknown currency {currency!r}.", code="unknown_currency")
        try:
            parsed[currency] = to_minor_units(amount, currency, allow_zero=True)
        except AmountError as exc:
            raise ApplicationError(exc.message, code=exc.code) from None
    return parsed


def _lock_node(node_id: UUID) -> None:
    """Serialize cap checks of one node (PostgreSQL advisory lock until COMMIT). Taken in
    node-id order before the ledger locks any account, so the lock order stays total."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"netdebitcap" + node_id.bytes).digest()[:8], "big")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key - 2**63])


def unsettled_position(node_id: UUID, currency: str) -> int:
    """The node's inter-node position (received - paid) since its last settled window."""
    cycle = cycle_of(node_id, node_cycles())
    pending = (
        SettlementWindow.objects.filter(cycle=cycle)
        .exclude(status=SettlementWindow.Status.SETTLED)
        .order_by("start_day")
        .first()
    )
    last_settled = (
        SettlementWindow.objects.filter(cycle=cycle, status=SettlementWindow.Status.SETTLED)
        .order_by("-end_day")
        .first()
    )
    entries = Entry.objects.filter(
        account__wallet__node_id=node_id, currency=currency, transaction__is_inter_node=True
    )
    if pending is not None:
        entries = entries.filter(transaction__posted_at__gte=day_bounds(pending.start_day)[0])
    elif last_settled is not None:
        entries = entries.filter(transaction__posted_at__gte=day_bounds(last_settled.end_day)[1])
    return entries.aggregate(total=Sum("amount"))["total"] or 0


def check_postings(postings: Sequence[Posting]) -> dict[int, ApplicationError]:
    """The ledger's posting check (``wallets.posting.POSTING_CHECKS``): refuse each
    inter-node posting that would take a node's unsettled position below minus its net
    debit cap. Postings that are not inter-node cost one attribute test.

    Runs before the ledger writes or locks anything: the paying nodes' cap locks are taken
    first (node-id order, ``wallets.locking``), then the positions are read, so a
    concurrent posting of the same node waits and then sees this one. Within a batch the
    postings count in order; an accepted posting's debits count against the later ones,
    its credits do not (it may still fail on funds), so a batch never slips past a cap."""
    inter = [(i, p) for i, p in enumerate(postings) if p.is_inter_node and p.legs]
    if not inter:
        return {}
    # Only nodes that have a cap matter: most have none, and then this one query is all
    # an inter-node posting pays.
    nodes_of = _capped_nodes({leg.account_id for _, p in inter for leg in p.legs})
    if not nodes_of:
        return {}
    changes: list[tuple[int, dict[tuple[UUID, str], int]]] = []
    for index, posting in inter:
        change: dict[tuple[UUID, str], int] = defaultdict(int)
        for leg in posting.legs:
            if leg.account_id in nodes_of:
                change[(nodes_of[leg.account_id], leg.currency)] += leg.amount
        paying = {key: delta for key, delta in change.items() if delta < 0}
        if paying:
            changes.append((index, paying))
    if not changes:
        return {}
    caps = {
        (node, currency): amount
        for node, currency, amount in NetDebitCap.objects.filter(
            _any_of({key for _, paying in changes for key in paying})
        ).values_list("node_id", "currency", "amount")
    }
    if not caps:
        return {}
    for node in sorted({node for node, _ in caps}, key=str):
        _lock_node(node)
    position = {key: unsettled_position(*key) for key in caps}
    errors: dict[int, ApplicationError] = {}
    for index, paying in changes:
        after = {key: position[key] + delta for key, delta in paying.items() if key in caps}
        over = sorted(key for key, value in after.items() if value < -caps[key])
        if over:
            key = over[0]
            node, currency = key
            errors[index] = Unprocessable(
                f"This transfer would take node {node}'s unsettled {currency} position to "
                f"{to_decimal_string(after[key], currency)}, beyond its net debit cap of "
                f"{to_decimal_string(caps[key], currency)}.",
                code="net_debit_cap_exceeded",
            )
        else:
            position.update(after)
    return errors


_CAPPED_NODES_SQL = prepared(
    "capped_nodes",
    f"""
SELECT a.id, w.node_id
  FROM {Account._meta.db_table} AS a
  JOIN {Wallet._meta.db_table} AS w ON w.id = a.wallet_id
 WHERE a.id = ANY(%(capped_accounts)s::uuid[])
   AND w.node_id IN (SELECT node_id FROM {NetDebitCap._meta.db_table})
""",
    small_arrays=True,
)


def capped_nodes_read(account_ids: Sequence[UUID]) -> Statement | None:
    """``_capped_nodes``' query, for a caller to send ahead (``wallets.posting.
    POSTING_CHECK_READS``): it is all an inter-node posting between nodes without caps
    costs, and sent with an earlier statement it costs no round trip of its own."""
    if connection.vendor != "postgresql":
        return None
    ids = sorted(set(account_ids))
    key = ("capped_nodes", tuple(ids))
    return Statement(
        _CAPPED_NODES_SQL,
        {"capped_accounts": ids},
        lambda rows: read_ahead_keep(key, rows),
    )


def _capped_nodes(account_ids: set[UUID]) -> dict[UUID, UUID]:
    """The node of each of these accounts whose node has a net debit cap. Every
    inter-node posting asks, so on PostgreSQL the SQL is written once: the ORM's building
    of it cost a single transfer more CPU than anything else it does."""
    if connection.vendor != "postgresql":
        return dict(
            Account.objects.filter(
                id__in=account_ids, wallet__node_id__in=NetDebitCap.objects.values("node_id")
            ).values_list("id", "wallet__node_id")
        )
    ids = sorted(account_ids)
    rows = read_ahead_take(("capped_nodes", tuple(ids)))  # sent ahead, in this transaction
    if rows is None:
        with connection.cursor() as cursor:
            cursor.execute(writebehind.bind(_CAPPED_NODES_SQL, {"capped_accounts": ids}))
            rows = cursor.fetchall()
    return dict(rows)


def check_posting(posting: Posting) -> None:
    """``check_postings`` for one posting: raises its refusal."""
    errors = check_postings([posting])
    if errors:
        raise errors[0]


def _any_of(pairs: Iterable[tuple[UUID, str]]) -> Q:
    query = Q(pk__in=[])
    for node, currency in pairs:
        query |= Q(node_id=node, currency=currency)
    return query
