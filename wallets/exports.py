"""The transaction history as CSV, streamed: read page by page with the history's keyset,
written row by row, so an export of millions of entries holds one page in memory."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.http import StreamingHttpResponse

from sandbox import clock
from sandbox.currencies import to_decimal_string
from sandbox.tenants.models import Tenant
from wallets.selectors import HistoryFilters, history_iter

COLUMNS = [
    "posted_at",
    "transaction_id",
    "kind",
    "account_id",
    "direction",
    "amount",
    "currency",
    "memo",
    "is_inter_node",
    "reverses",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(*, tenant: Tenant, filters: HistoryFilters) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for txn, entry in history_iter(tenant=tenant, filters=filters):
        yield writer.writerow(
            [
                txn.posted_at.isoformat(),
                txn.uuid,
                txn.kind,
                entry.account_id,
                "credit" if entry.amount > 0 else "debit",
                to_decimal_string(entry.amount, entry.currency),
                entry.currency,
                _safe(txn.memo),
                "true" if txn.is_inter_node else "false",
                txn.reverses.uuid if txn.reverses is not None else "",
            ]
        )


def _safe(text: str) -> str:
    # A memo starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(*, tenant: Tenant, filters: HistoryFilters) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        csv_rows(tenant=tenant, filters=filters), content_type="text/csv"
    )
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="transactions-{stamp}.csv"'
    return response
