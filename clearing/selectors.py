"""Reads for clearing: proofs, closes, the chain file, the close log, jobs, anchored
records, settlement windows and contracts."""

from __future__ import annotations

import base64
import csv
import io
import struct
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Q, QuerySet

from clearing import records
from clearing.chain import get_chain
from clearing.closelog import close_log_leaf, close_log_tree
from clearing.encoding import day_of, decode_transaction, leaf_for
from clearing.merkle import MerkleTree, ProofError, leaf_hash
from clearing.models import (
    AnchorBlock,
    AnchoredRecord,
    AnchorThreshold,
    ClockClose,
    ClockCloseTransaction,
    DayClose,
    Job,
    SettlementContract,
    SettlementCycle,
    SettlementInstruction,
    SettlementPosition,
    SettlementWindow,
)
from clearing.ots import build_ots
from clearing.proofs import proof_document
from clearing.settlement import compute_window
from clearing.storage import StoredTree, leaf_index
from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError, Conflict, NotFound
from sandbox.events.models import TestClock
from sandbox.tenants.models import Node, Tenant
from wallets import selectors as wallet_selectors

REGTEST_MAGIC = bytes.fromhex("fabfb5da")
LEAF_FORMAT = "ledger-transaction/1"


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApplicationError(
            f"{value!r} is not a day (YYYY-MM-DD).", code="invalid_day"
        ) from None


def uuid_or_none(value: Any) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (a lookup then finds nothing)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def int_or_none(value: Any) -> int | None:
    return int(value) if str(value).isdigit() else None


def node_get(node_id: Any) -> Node:
    """Any node, for operators (404 when there is none)."""
    node_uuid = uuid_or_none(node_id)
    node = Node.objects.filter(pk=node_uuid).first() if node_uuid is not None else None
    if node is None:
        raise NotFound(f"No node with id {node_id}.", code="node_not_found")
    return node


# --- Closed days -----------------------------------------------------------------------------


def day_closes(*, limit: int = 400) -> QuerySet[DayClose]:
    """The latest closes, newest day first."""
    return DayClose.objects.select_related("anchor").order_by("-day")[:limit]


def closed_day_get(day: date) -> DayClose:
    close = DayClose.objects.select_related("anchor").filter(day=day).first()
    if close is None or not close.is_closed:
        raise NotFound(f"{day} is not closed.", code="day_not_closed")
    return close


def transaction_proof(*, tenant: Any, transaction_id: Any) -> dict[str, Any]:
    """The whole proof for one of ``tenant``'s transactions (404 for anyone else's)."""
    txn = wallet_selectors.transaction_get(tenant=tenant, transaction_id=transaction_id)
    day = day_of(txn.posted_at)
    close = DayClose.objects.filter(day=day, status=DayClose.Status.CLOSED).first()
    if close is None:
        raise Conflict(
            f"The transaction's day ({day}) is not closed yet; its proof exists once it is.",
            code="day_not_closed",
        )
    index = leaf_index(close, txn.id)
    if index is None:
        raise Conflict(
            "The transaction is not in its day's anchored tree: the ledger changed after the "
            "close. Operators are alerted by verify_anchors.",
            code="not_anchored",
        )
    tree = StoredTree(close)
    tree.prefetch_path(index)
    leaf = leaf_for(txn.id)
    if leaf_hash(leaf) != tree.leaf_hash(index):
        raise Conflict(
            "The transaction differs from the anchored one: the ledger changed after the close.",
            code="not_anchored",
        )
    anchor = get_chain().find(kind=AnchorBlock.Kind.DAY, label=day.isoformat())
    if anchor is None:
        raise Conflict(f"No block anchors {day}.", code="not_anchored")
    doc = proof_document(
        leaf=leaf,
        index=index,
        tree=tree,
        anchor=anchor,
        subject={
            "transaction": str(txn.uuid),
            "leaf_format": LEAF_FORMAT,
            "day": day.isoformat(),
        },
    )
    assert close.sequence is not None  # a closed day has its place in the log (a constraint)
    log = close_log_tree(through_sequence=close.sequence)
    doc["close_log"] = {
        "sequence": close.sequence,
        "size": log.size,
        "leaf": close_log_leaf(day, close.leaf_count, close.root).hex(),
        "audit_path": [h.hex() for h in log.inclusion_proof(close.sequence)],
        "root": close.log_root,
    }
    return doc


def receipt_proof(*, tenant: Any, transaction_id: Any) -> dict[str, Any]:
    """A transaction's inclusion proof wherever its day closed: in its test clock's close
    when one holds it (its node was on a test clock), else in the platform's day (409
    ``day_not_closed`` until one of them has closed)."""
    txn = wallet_selectors.transaction_get(tenant=tenant, transaction_id=transaction_id)
    member = (
        ClockCloseTransaction.objects.select_related("close__clock")
        .filter(transaction=txn, close__status=ClockClose.Status.CLOSED)
        .first()
    )
    if member is not None and member.close.clock is not None:
        return clock_close_proof(
            tenant=tenant, clock=member.close.clock, day=member.close.day, transaction_id=txn.uuid
        )
    return transaction_proof(tenant=tenant, transaction_id=transaction_id)


def close_log_consistency(*, first: int, second: int | None = None) -> dict[str, Any]:
    """RFC 9162 consistency proof between the close log at ``first`` and ``second`` days
    (by default, the log as it is now)."""
    log = close_log_tree()
    if second is None:
        second = log.size
    try:
        proof = log.consistency_proof(first, second)
    except ProofError as exc:
        raise ApplicationError(str(exc), code="invalid_log_size") from None
    return {
        "first": first,
        "second": second,
        "first_root": log.root_at(first).hex(),
        "second_root": log.root_at(second).hex(),
        "proof": [h.hex() for h in proof],
    }


def close_log_head() -> dict[str, Any]:
    log = close_log_tree()
    return {"size": log.size, "root": log.root.hex()}


def ots_for_day(day: date) -> bytes:
    close = closed_day_get(day)
    assert close.anchor is not None  # a closed day has its block (a database constraint)
    chain = get_chain()
    anchor = chain.get(close.anchor.height)
    return build_ots(anchor, chain.raw_block(anchor.height))


def chain_file() -> bytes:
    """The whole chain as Bitcoin Core stores it in ``blk*.dat``: per block, the regtest
    magic, the block's size (u32, little-endian) and the block."""
    parts = []
    for raw in get_chain().blocks():
        parts += [REGTEST_MAGIC, struct.pack("<I", len(raw)), raw]
    return b"".join(parts)


def block_get(height: int) -> AnchorBlock:
    return AnchorBlock.objects.get(height=height)


def chain_summary() -> list[dict[str, Any]]:
    get_chain().height()  # the genesis exists from the first look on
    rows = AnchorBlock.objects.order_by("height").values(
        "height",
        "block_hash",
        "prev_id",
        "kind",
        "label",
        "root",
        "leaf_count",
        "txid",
        "block_time",
    )
    return [
        {
            "height": r["height"],
            "block_hash": r["block_hash"],
            "prev_hash": r["prev_id"] or "0" * 64,
            "kind": r["kind"],
            "label": r["label"],
            "root": r["root"],
            "transactions": r["leaf_count"],
            "txid": r["txid"],
            "time": r["block_time"],
        }
        for r in rows
    ]


# --- Test clock closes -----------------------------------------------------------------------


def clock_get(*, tenant: Any, clock_id: Any) -> TestClock:
    """One of ``tenant``'s test clocks (404 for anyone else's)."""
    clock = TestClock.objects.get_for_tenant(tenant, clock_id)
    assert isinstance(clock, TestClock)
    return clock


def clock_closes(*, tenant: Any, clock: TestClock) -> QuerySet[ClockClose]:
    """The clock's closes, newest first (the clock is already the tenant's)."""
    return (
        ClockClose.objects.for_tenant(tenant)
        .filter(clock=clock)
        .select_related("anchor")
        .order_by("-day")
    )


def clock_closes_recent(
    *, tenant: Tenant | None, operator: bool = False, limit: int = 30
) -> QuerySet[ClockClose]:
    """The newest test-clock closes, for the clearing page beside the platform's days:
    operators see every tenant's, a tenant its own."""
    closes = ClockClose.objects.select_related("clock", "anchor", "tenant")
    if not operator:
        closes = closes.for_tenant(tenant)
    return closes.order_by("-created_at", "-pk")[:limit]


def clock_close_get(*, tenant: Any, clock: TestClock, day: date) -> ClockClose:
    close = clock_closes(tenant=tenant, clock=clock).filter(day=day).first()
    if close is None:
        raise NotFound(f"The clock has no close of {day}.", code="clock_close_not_found")
    return close


def clock_close_transaction_ids(close: ClockClose) -> list[str]:
    """The close's transactions (the ids clients see), in leaf order."""
    return [
        str(txn_uuid)
        for txn_uuid in ClockCloseTransaction.objects.filter(close=close)
        .order_by("position")
        .values_list("transaction__uuid", flat=True)
    ]


@dataclass(frozen=True)
class ClockClosePage:
    """A clock close as the test clock's page lists it: the close's own fields, ``rows``
    (its first transactions in leaf order) and ``more`` (how many it leaves out)."""

    day: date
    status: str
    sequence: int
    leaf_count: int
    root: str
    anchor: AnchorBlock | None
    closed_at: datetime | None
    rows: list[dict[str, Any]]
    more: int


def clock_closes_for_page(
    *, tenant: Any, clock: TestClock, closes: int = 10, transactions: int = 50
) -> list[ClockClosePage]:
    """The clock's latest closes, each with its first ``transactions`` in leaf order."""
    shown = []
    for close in clock_closes(tenant=tenant, clock=clock)[:closes]:
        members = (
            ClockCloseTransaction.objects.filter(close=close)
            .order_by("position")
            .values_list(
                "position",
                "transaction__uuid",
                "transaction__kind",
                "transaction__amount",
                "transaction__currency",
            )[:transactions]
        )
        rows = [
            {
                "position": position,
                "uuid": str(txn_uuid),
                "kind": kind,
                "amount": to_decimal_string(amount, currency),
                "currency": currency,
            }
            for position, txn_uuid, kind, amount, currency in members
        ]
        shown.append(
            ClockClosePage(
                day=close.day,
                status=close.status,
                sequence=close.sequence,
                leaf_count=close.leaf_count,
                root=close.root,
                anchor=close.anchor,
                closed_at=close.closed_at,
                rows=rows,
                more=max(0, close.leaf_count - len(rows)),
            )
        )
    return shown


def clock_close_proof(
    *, tenant: Any, clock: TestClock, day: date, transaction_id: Any
) -> dict[str, Any]:
    """The inclusion proof of one of ``tenant``'s transactions in its clock's close of
    ``day``: the same document as a day's proof (its anchor of kind "clock"), without the
    close log, which holds platform days only."""
    close = clock_close_get(tenant=tenant, clock=clock, day=day)
    if not close.is_closed:
        raise Conflict(
            f"The clock's close of {day} is not finished yet; its proofs exist once it is.",
            code="clock_close_pending",
        )
    txn = wallet_selectors.transaction_get(tenant=tenant, transaction_id=transaction_id)
    member = ClockCloseTransaction.objects.filter(close=close, transaction=txn).first()
    if member is None:
        raise NotFound(
            f"Transaction {txn.uuid} is not in the clock's close of {day}.",
            code="transaction_not_in_close",
        )
    # The tree from the hashes fixed at the close (so a proof never re-reads the whole
    # day), checked against the anchor below; the leaf itself comes from the ledger.
    stored = ClockCloseTransaction.objects.filter(close=close).order_by("position")
    tree = MerkleTree.from_leaf_hashes(
        bytes.fromhex(h) for h in stored.values_list("leaf_hash", flat=True)
    )
    leaf = leaf_for(txn.id)
    if leaf_hash(leaf).hex() != member.leaf_hash:
        raise Conflict(
            "The transaction differs from the anchored one: the ledger changed after the close.",
            code="not_anchored",
        )
    anchor = get_chain().find(kind=AnchorBlock.Kind.CLOCK, label=close.anchor_label)
    if anchor is None or anchor.root != tree.root or anchor.leaf_count != tree.size:
        raise Conflict("No block anchors this close as it is stored.", code="not_anchored")
    return proof_document(
        leaf=leaf,
        index=member.position,
        tree=tree,
        anchor=anchor,
        subject={
            "transaction": str(txn.uuid),
            "leaf_format": LEAF_FORMAT,
            "day": day.isoformat(),
            "test_clock": str(clock.pk),
            "close_sequence": close.sequence,
        },
    )


def jobs_visible(
    *, tenant: Tenant | None = None, operator: bool = False, limit: int = 200
) -> QuerySet[Job]:
    """The newest jobs someone may see: operators all; a tenant the platform's jobs and its
    own (its test clock closes), never another tenant's."""
    jobs = Job.objects.select_related("retry_of")
    if not operator:
        jobs = jobs.filter(Q(tenant__isnull=True) | Q(tenant=tenant))
    return jobs[:limit]


def job_get(job_id: Any) -> Job:
    pk = int_or_none(job_id)
    job = Job.objects.filter(pk=pk).first() if pk is not None else None
    if job is None:
        raise NotFound(f"No job with id {job_id}.", code="job_not_found")
    return job


def last_check() -> Job | None:
    """The latest anchor check that has started (the dashboard's "last checked")."""
    return Job.objects.filter(kind=Job.Kind.VERIFY).exclude(status=Job.Status.QUEUED).first()


# --- Large inter-node transactions: encrypted, anchored records ------------------------------


def record_document(record: AnchoredRecord, plaintext: bytes | None) -> dict[str, Any]:
    """An anchored record as the API shows it; with ``plaintext`` (opened by its reader),
    the decoded transaction too."""
    body: dict[str, Any] = {
        "transaction": str(record.transaction.uuid),
        "digest": record.digest,
        "envelope": base64.b64encode(bytes(record.envelope)).decode(),
        "nodes": [str(n) for n in record.nodes.values_list("id", flat=True)],
        "anchor": None,
        "record": None,
    }
    if record.anchor is not None:
        body["anchor"] = {
            "height": record.anchor.height,
            "block_hash": record.anchor.block_hash,
            "txid": record.anchor.txid,
            "label": record.anchor.label,
        }
    if plaintext is not None:
        decoded = decode_transaction(plaintext)
        body["record"] = {
            "leaf": plaintext.hex(),
            "id": decoded.id,
            "kind": decoded.kind,
            "currency": decoded.currency,
            "amount": decoded.amount,
            "posted_at": decoded.posted_at,
            "entries": [
                {"account": str(e.account), "currency": e.currency, "amount": e.amount}
                for e in decoded.entries
            ],
        }
    return body


def _record_of(transaction_id: Any) -> AnchoredRecord | None:
    txn_uuid = uuid_or_none(transaction_id)
    if txn_uuid is None:
        return None
    records_ = AnchoredRecord.objects.select_related("transaction", "anchor")
    return records_.filter(transaction__uuid=txn_uuid).first()


def transaction_record(*, tenant: Any, transaction_id: Any) -> dict[str, Any]:
    """The anchored record of one of ``tenant``'s large inter-node transactions, opened
    with the key of its node the transaction touches (404 for anyone else's)."""
    record = _record_of(transaction_id)
    node = record.nodes.filter(tenant=tenant).order_by("id").first() if record else None
    if record is None or node is None:
        raise NotFound(
            f"No anchored record of a transaction {transaction_id} of yours.",
            code="record_not_found",
        )
    return record_document(record, records.open_for_node(record, node))


def operator_record(*, transaction_id: Any) -> dict[str, Any]:
    """Any anchored record, opened with the operators' key."""
    record = _record_of(transaction_id)
    if record is None:
        raise NotFound(f"No anchored record of {transaction_id}.", code="record_not_found")
    return record_document(record, records.open_for_operators(record))


def node_record_key(*, tenant: Any, node_id: Any) -> dict[str, str]:
    """One of ``tenant``'s nodes' record key (base64), to open its envelopes offline."""
    node = Node.objects.get_for_tenant(tenant, node_id)
    assert isinstance(node, Node)
    return {"node": str(node.pk), "key": base64.b64encode(records.node_key(node)).decode()}


def thresholds() -> list[dict[str, str]]:
    """The anchoring thresholds per currency (decimal strings)."""
    return [
        {"currency": t.currency, "min_amount": to_decimal_string(t.min_amount, t.currency)}
        for t in AnchorThreshold.objects.order_by("currency")
    ]


# --- Settlement --------------------------------------------------------------------------------

WINDOW_FIELDS = ["id", "cycle", "start_day", "end_day", "settle_on", "status", "transactions"]
CSV_COLUMNS = [
    "section", "node", "node_name", "currency", "gross_paid", "gross_received", "net",
    "direction", "amount", "bank_code", "transaction",
]  # fmt: skip


def windows_list(*, limit: int = 200) -> list[dict[str, Any]]:
    """The latest settlement windows (the list's summary fields), newest first."""
    windows = SettlementWindow.objects.order_by("-end_day", "cycle")[:limit]
    return list(windows.values(*WINDOW_FIELDS))


def windows_recent(*, limit: int = 20) -> list[SettlementWindow]:
    """The latest windows that are no longer open, for the dashboard."""
    windows = SettlementWindow.objects.exclude(status=SettlementWindow.Status.OPEN)
    return list(windows.order_by("-end_day", "cycle")[:limit])


def window_get(window_id: Any) -> SettlementWindow:
    pk = int_or_none(window_id)
    window = SettlementWindow.objects.filter(pk=pk).first() if pk is not None else None
    if window is None:
        raise NotFound(f"No settlement window {window_id}.", code="window_not_found")
    return window


def window_document(window: SettlementWindow, *, tenant: Any = None) -> dict[str, Any]:
    """A window with its positions and instructions; a tenant sees its own nodes' rows."""
    positions = SettlementPosition.objects.filter(window=window).select_related("node")
    instructions = SettlementInstruction.objects.filter(window=window).select_related(
        "node", "transaction"
    )
    if tenant is not None:
        positions = positions.filter(node__tenant=tenant)
        instructions = instructions.filter(node__tenant=tenant)
    body: dict[str, Any] = {
        "id": window.pk,
        "cycle": window.cycle,
        "start_day": window.start_day,
        "end_day": window.end_day,
        "settle_on": window.settle_on,
        "status": window.status,
        "transactions": window.transactions,
        "settled_at": window.settled_at,
        "note": window.note,
        "positions": [
            {
                "node": str(p.node_id),
                "node_name": p.node.name,
                "currency": p.currency,
                "gross_paid": to_decimal_string(p.gross_paid, p.currency),
                "gross_received": to_decimal_string(p.gross_received, p.currency),
                "net": to_decimal_string(p.net, p.currency),
            }
            for p in positions.order_by("node_id", "currency")
        ],
        "instructions": [
            {
                "node": str(i.node_id),
                "node_name": i.node.name,
                "direction": i.direction,
                "counterparty": "clearing hub",
                "amount": to_decimal_string(i.amount, i.currency),
                "currency": i.currency,
                "bank_code": i.bank_code,
                "transaction": str(i.transaction.uuid),
            }
            for i in instructions.order_by("node_id", "currency")
        ],
    }
    if window.status == SettlementWindow.Status.SETTLED:
        result = compute_window(window)
        mine = (
            None if tenant is None else {str(n) for n in tenant.nodes.values_list("id", flat=True)}
        )
        body["bilateral"] = [
            {"debtor": a, "creditor": b, "currency": c, "amount": to_decimal_string(v, c)}
            for (a, b, c), v in sorted(result.positions.bilateral.items())
            if mine is None or a in mine or b in mine
        ]
    return body


def window_report_csv(window: SettlementWindow, *, tenant: Any = None) -> str:
    """The window's positions, instructions and bilateral debts as CSV, one row each."""
    body = window_document(window, tenant=tenant)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="")
    writer.writeheader()
    for p in body["positions"]:
        writer.writerow({"section": "position", **p})
    for i in body["instructions"]:
        writer.writerow({"section": "instruction", **{k: i[k] for k in CSV_COLUMNS if k in i}})
    for b in body.get("bilateral", []):
        writer.writerow(
            {
                "section": "bilateral",
                "node": b["debtor"],
                "currency": b["currency"],
                "direction": f"owes {b['creditor']}",
                "amount": b["amount"],
            }
        )
    return out.getvalue()


def contract_of(node: Node) -> dict[str, Any]:
    """``node``'s settlement contract as the API shows it: cycle and caps (decimal strings).
    Reads ``node.settlement_contract`` and ``node.net_debit_caps``: select and prefetch
    them for many nodes."""
    try:
        cycle = node.settlement_contract.cycle
    except SettlementContract.DoesNotExist:
        cycle = "daily"
    caps = sorted(node.net_debit_caps.all(), key=lambda cap: cap.currency)
    return {
        "node": str(node.pk),
        "node_name": node.name,
        "cycle": cycle,
        "net_debit_caps": {c.currency: to_decimal_string(c.amount, c.currency) for c in caps},
    }


def contracts_visible(*, tenant: Tenant | None = None) -> list[dict[str, Any]]:
    """Every active node's contract for operators (``tenant`` None), else the tenant's."""
    nodes = (
        Node.objects.filter(is_active=True)
        .select_related("tenant", "settlement_contract")
        .prefetch_related("net_debit_caps")
        .order_by("name", "pk")
    )
    if tenant is not None:
        nodes = nodes.filter(tenant=tenant)
    rows = [{**contract_of(node), "tenant_name": node.tenant.name} for node in nodes[:500]]
    for row in rows:
        row["cycle_label"] = SettlementCycle(row["cycle"]).label
    return rows
