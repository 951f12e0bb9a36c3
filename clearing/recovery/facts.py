"""What a backup's manifest says about the books, read in the dump's own snapshot, and the
same facts read back from a restored database."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import connection

from clearing.models import DayClose
from clearing.selectors import ots_for_day
from wallets.models import LedgerTransaction


def tables() -> list[str]:
    """Every table a model of the project owns (many-to-many tables included)."""
    names = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(names)


def row_counts(names: list[str]) -> dict[str, int | None]:
    """Rows per table (None: the table is missing)."""
    existing = set(connection.introspection.table_names())
    counts: dict[str, int | None] = {}
    with connection.cursor() as cursor:
        for name in names:
            if name not in existing:
                counts[name] = None
                continue
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")
            counts[name] = int(cursor.fetchone()[0])
    return counts


def newest_transaction() -> dict[str, Any] | None:
    txn = LedgerTransaction.objects.order_by("-id").values("id", "uuid", "posted_at").first()
    if txn is None:
        return None
    return {"id": txn["id"], "uuid": str(txn["uuid"]), "posted_at": txn["posted_at"].isoformat()}


def last_closed_day(*, with_ots: bool) -> dict[str, Any] | None:
    close = (
        DayClose.objects.filter(status=DayClose.Status.CLOSED)
        .select_related("anchor")
        .order_by("-sequence")
        .first()
    )
    if close is None or close.anchor is None:
        return None
    facts: dict[str, Any] = {
        "day": close.day.isoformat(),
        "root": close.root,
        "leaf_count": close.leaf_count,
        "anchor_height": close.anchor.height,
        "block_hash": close.anchor.block_hash,
    }
    if with_ots:
        facts["ots"] = ots_for_day(close.day).hex()
    return facts


def snapshot_facts() -> dict[str, Any]:
    """The manifest's facts; call in the transaction whose snapshot the dump copies."""
    return {
        "rows": row_counts(tables()),
        "newest_transaction": newest_transaction(),
        "last_closed_day": last_closed_day(with_ots=True),
    }
