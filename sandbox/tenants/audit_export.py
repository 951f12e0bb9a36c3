"""The operators' audit log as CSV, streamed in id order chunks: an export of the whole log
holds one chunk in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone

from sandbox.tenants.selectors import AuditFilters, audit_log_search

COLUMNS = [
    "created_at",
    "tenant_id",
    "tenant",
    "actor",
    "is_operator_action",
    "action",
    "target_type",
    "target_id",
    "target",
    "ip_address",
    "data",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _safe(text: str) -> str:
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(filters: AuditFilters) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for entry in audit_log_search(filters).iterator(chunk_size=2000):
        yield writer.writerow(
            [
                entry.created_at.isoformat(),
                entry.tenant_id or "",
                _safe(entry.tenant.name) if entry.tenant is not None else "",
                _safe(entry.actor_label),
                "true" if entry.is_operator_action else "false",
                entry.action,
                entry.target_type,
                entry.target_id,
                _safe(entry.target_label),
                entry.ip_address or "",
                _safe(json.dumps(entry.data, sort_keys=True, ensure_ascii=False)),
            ]
        )


def csv_response(filters: AuditFilters) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_rows(filters), content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response
