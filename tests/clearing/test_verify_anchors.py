"""verify_anchors: any ledger row changed, removed or inserted behind the ledger's back, in
SQL, is reported with its day and transaction, and the command fails."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearing import closing
from clearing.verification import verify_anchors
from tests.clearing.conftest import DAY

pytestmark = pytest.mark.django_db

DAY2 = DAY + timedelta(days=1)


@pytest.fixture
def closed(ledger):
    first = ledger.post(DAY, 4)
    second = ledger.post(DAY2, 3)
    closing.close_day(day=DAY2, triggered_by="test")
    return {DAY: sorted(t.id for t in first), DAY2: sorted(t.id for t in second)}


def raw_sql(statement: str, params=()) -> None:
    """Run SQL as an intruder with database access would: on PostgreSQL, with the ledger's
    append-only triggers switched off for this transaction (superuser only)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(statement, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def test_untouched_books_verify(closed, capsys):
    report = verify_anchors()
    assert report.ok, [str(p) for p in report.problems]
    assert (report.days_checked, report.transactions) == (2, 7)
    call_command("verify_anchors")
    assert "All anchors match: 2 closed days, 7 transactions." in capsys.readouterr().out


def problems_after(statement: str, params=()) -> list[tuple]:
    with transaction.atomic():
        raw_sql(statement, params)
        report = verify_anchors()
        transaction.set_rollback(True)
    return sorted((p.kind, p.day, p.transaction_id) for p in report.problems)


def test_a_changed_memo_is_reported(closed):
    txn = closed[DAY][1]
    found = problems_after("UPDATE wallets_ledgertransaction SET memo = 'x' WHERE id = %s", [txn])
    assert found == [("changed", DAY, txn)]


def test_a_changed_entry_amount_is_reported(closed):
    txn = closed[DAY2][2]
    found = problems_after(
        "UPDATE wallets_entry SET amount = amount * 2 WHERE transaction_id = %s", [txn]
    )
    assert found == [("changed", DAY2, txn)]


def test_a_removed_transaction_is_reported(closed):
    txn = closed[DAY][0]
    assert problems_after_delete(txn) == [("removed", DAY, txn)]


def problems_after_delete(txn: int) -> list[tuple]:
    with transaction.atomic():
        raw_sql("DELETE FROM wallets_entry WHERE transaction_id = %s", [txn])
        raw_sql("DELETE FROM wallets_ledgertransaction WHERE id = %s", [txn])
        report = verify_anchors()
        transaction.set_rollback(True)
    return sorted((p.kind, p.day, p.transaction_id) for p in report.problems)


def insert_transaction(day_offset_seconds: int, copy_of: int) -> int:
    """Insert a copy of transaction ``copy_of`` (new id and uuid), moved in time."""
    new_uuid = uuid.uuid4().hex if connection.vendor == "sqlite" else str(uuid.uuid4())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            moved = "posted_at + make_interval(secs => %s)"
        else:
            moved = "datetime(posted_at, '+' || %s || ' seconds')"
        cursor.execute(
            f"""INSERT INTO wallets_ledgertransaction
                   (uuid, tenant_id, kind, memo, metadata, amount, currency, reverses_id,
                    is_inter_node, posted_at)
                SELECT %s, tenant_id, kind, memo, metadata, amount, currency, reverses_id,
                       is_inter_node, {moved}
                  FROM wallets_ledgertransaction WHERE id = %s""",
            [new_uuid, day_offset_seconds, copy_of],
        )
        cursor.execute("SELECT max(id) FROM wallets_ledgertransaction")
        return cursor.fetchone()[0]


def test_an_inserted_transaction_is_reported(closed):
    with transaction.atomic():
        new_id = insert_transaction(60, closed[DAY][0])
        report = verify_anchors()
        transaction.set_rollback(True)
    assert sorted((p.kind, p.day, p.transaction_id) for p in report.problems) == [
        ("inserted", DAY, new_id)
    ]


def test_the_command_fails_and_names_the_transaction(closed, capsys):
    txn = closed[DAY2][0]
    with transaction.atomic():
        raw_sql("UPDATE wallets_ledgertransaction SET amount = amount + 1 WHERE id = %s", [txn])
        with pytest.raises(CommandError, match="Anchors do NOT match: 1 problem"):
            call_command("verify_anchors")
        transaction.set_rollback(True)
    assert f"2025-03-11 transaction {txn}: changed" in capsys.readouterr().err


COLUMNS = {
    "wallets_ledgertransaction": [
        ("memo", "memo || '!'"),
        ("amount", "amount + 1"),
        ("kind", "'adjustment'"),
        ("currency", "'USD'"),
        ("metadata", "'{\"forged\": true}'"),
        ("is_inter_node", "NOT is_inter_node"),
        ("tenant_id", "NULL"),
    ],
    "wallets_entry": [
        ("amount", "-amount"),
        ("currency", "'JPY'"),
    ],
}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_change_delete_or_insert_in_sql_is_detected(closed, data):
    day = data.draw(st.sampled_from([DAY, DAY2]), label="day")
    txn = data.draw(st.sampled_from(closed[day]), label="transaction")
    action = data.draw(st.sampled_from(["change", "delete", "delete-entry", "insert"]))
    with transaction.atomic():
        if action == "change":
            table = data.draw(st.sampled_from(sorted(COLUMNS)), label="table")
            column, value = data.draw(st.sampled_from(COLUMNS[table]), label="column")
            if connection.vendor == "sqlite" and column == "is_inter_node":
                value = "1 - is_inter_node"
            key = "id" if table == "wallets_ledgertransaction" else "transaction_id"
            raw_sql(f"UPDATE {table} SET {column} = {value} WHERE {key} = %s", [txn])
            expected = [("changed", day, txn)]
        elif action == "delete":
            raw_sql("DELETE FROM wallets_entry WHERE transaction_id = %s", [txn])
            raw_sql("DELETE FROM wallets_ledgertransaction WHERE id = %s", [txn])
            expected = [("removed", day, txn)]
        elif action == "delete-entry":
            raw_sql(
                "DELETE FROM wallets_entry WHERE id = (SELECT min(id) FROM wallets_entry "
                "WHERE transaction_id = %s)",
                [txn],
            )
            expected = [("changed", day, txn)]
        else:
            new_id = insert_transaction(data.draw(st.integers(0, 3600)), txn)
            expected = [("inserted", day, new_id)]
        report = verify_anchors()
        transaction.set_rollback(True)
    assert sorted((p.kind, p.day, p.transaction_id) for p in report.problems) == expected
