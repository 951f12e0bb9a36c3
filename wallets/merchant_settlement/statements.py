"""A batch's statement: a CSV of what it settled, and the platform's detached JWS over the
CSV's SHA-256 (``sandbox.nodekeys.platform``; keys at ``/jwks/platform.json``).

The CSV is a pure function of the batch's items and figures, none of which change once the
batch is made (its later status is not in it), so the same bytes, hence the same
signature (Ed25519 is deterministic), come back on every download."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass

from sandbox.currencies import to_decimal_string
from sandbox.nodekeys import platform
from wallets.merchant_settlement import presenters
from wallets.merchant_settlement.models import SettlementBatch

TYP = "fsbx.settlement-statement+jws"
COLUMNS = [
    "record",
    "batch_id",
    "order_id",
    "payment_request_id",
    "refund_id",
    "occurred_at",
    "amount",
    "fee",
    "vat",
    "net",
    "currency",
]


def statement_csv(batch: SettlementBatch) -> bytes:
    """One row per order and refund, then the carried-in amount and the totals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow(COLUMNS)
    currency, batch_id = batch.currency, str(batch.pk)
    items = batch.items.select_related("payment_request").order_by("id")  # orders, refunds
    for item in items:
        row = presenters.item_json(item, currency)
        writer.writerow(
            [
                row["kind"],
                batch_id,
                row["order_id"],
                row["payment_request_id"],
                row["refund_id"] or "",
                row["occurred_at"],
                row["amount"],
                row["fee"],
                row["vat"],
                row["net"],
                currency,
            ]
        )

    def money(value: int) -> str:
        return to_decimal_string(value, currency)

    writer.writerow(
        ["carried_in", batch_id, "", "", "", "", money(batch.carried_in), "0", "0",
         money(batch.carried_in), currency]
    )  # fmt: skip
    settled = batch.gross - batch.refunds + batch.carried_in
    writer.writerow(
        ["total", batch_id, "", "", "", batch.cutoff.isoformat(), money(settled),
         money(batch.fees), money(batch.vat), money(batch.net), currency]
    )  # fmt: skip
    return buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class Signed:
    sha256: str
    jws: str


def statement_signature(content: bytes) -> Signed:
    digest = hashlib.sha256(content).digest()
    return Signed(sha256=digest.hex(), jws=platform.platform_sign_detached(typ=TYP, content=digest))
