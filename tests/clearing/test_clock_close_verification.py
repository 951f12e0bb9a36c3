"""verify_anchors recomputes every test clock close from its members and the ledger: a
member changed or removed behind the ledger's back is named with its clock close."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from clearing.chain import EmbeddedChain
from clearing.models import ClockClose, ClockCloseTransaction
from clearing.verification import verify_anchors
from tests.clearing.conftest import DAY, at
from tests.clearing.test_verify_anchors import raw_sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed(clocked):
    txns = [clocked.deposit(1_000), clocked.transfer(250), clocked.deposit(7, clocked.b)]
    clocked.advance(at(DAY + timedelta(days=1), 8))
    return sorted(t.id for t in txns)


def problems_after(statement: str, params=()) -> list[tuple]:
    with transaction.atomic():
        raw_sql(statement, params)
        report = verify_anchors()
        transaction.set_rollback(True)
    return sorted((p.kind, p.clock_close_id, p.transaction_id) for p in report.problems)


def test_untouched_clock_closes_verify(closed, capsys):
    assert EmbeddedChain().verify() == []  # a chain with "clock" blocks is a valid chain
    report = verify_anchors()
    assert report.ok, [str(p) for p in report.problems]
    assert (report.clock_closes_checked, report.transactions) == (1, 3)
    call_command("verify_anchors")
    assert "1 test clock closes, 3 transactions" in capsys.readouterr().out


def test_a_changed_member_memo_is_reported_with_its_clock_close(closed):
    close = ClockClose.objects.get()
    txn = closed[1]
    found = problems_after("UPDATE wallets_ledgertransaction SET memo = 'x' WHERE id = %s", [txn])
    assert found == [("changed", close.pk, txn)]


def test_a_changed_member_entry_is_reported(closed):
    close = ClockClose.objects.get()
    txn = closed[2]
    found = problems_after(
        "UPDATE wallets_entry SET amount = amount * 2 WHERE transaction_id = %s", [txn]
    )
    assert found == [("changed", close.pk, txn)]


def test_a_deleted_member_is_reported(closed):
    close = ClockClose.objects.get()
    txn = closed[0]
    with transaction.atomic():
        raw_sql("DELETE FROM wallets_entry WHERE transaction_id = %s", [txn])
        raw_sql("DELETE FROM wallets_ledgertransaction WHERE id = %s", [txn])
        report = verify_anchors()
        transaction.set_rollback(True)
    found = [(p.kind, p.clock_close_id, p.transaction_id) for p in report.problems]
    # the platform's day is not closed here, so only the clock close can notice
    assert found == [("removed", close.pk, txn)]


def test_a_forged_member_row_is_reported(closed):
    # The ledger still gives the anchored root, but the stored hash a proof relies on lies.
    close = ClockClose.objects.get()
    member = ClockCloseTransaction.objects.get(close=close, position=1)
    found = problems_after(
        "UPDATE clearing_clockclosetransaction SET leaf_hash = %s WHERE id = %s",
        ["ab" * 32, member.pk],
    )
    assert found == [("close-record", close.pk, member.transaction_id)]


def test_a_changed_member_with_a_forged_row_cannot_hide(closed):
    # An intruder who changes a transaction and its stored hash still misses the anchor.
    close = ClockClose.objects.get()
    txn = closed[0]
    with transaction.atomic():
        raw_sql("UPDATE wallets_ledgertransaction SET memo = 'x' WHERE id = %s", [txn])
        raw_sql(
            "UPDATE clearing_clockclosetransaction SET leaf_hash = %s WHERE transaction_id = %s",
            ["cd" * 32, txn],
        )
        report = verify_anchors()
        transaction.set_rollback(True)
    assert [(p.kind, p.clock_close_id) for p in report.problems] == [("root", close.pk)]


def test_the_command_fails_and_names_the_clock_close(clocked, closed, capsys):
    close = ClockClose.objects.get()
    txn = closed[1]
    with transaction.atomic():
        raw_sql("UPDATE wallets_ledgertransaction SET amount = amount + 1 WHERE id = %s", [txn])
        with pytest.raises(CommandError, match="Anchors do NOT match: 1 problem"):
            call_command("verify_anchors")
        transaction.set_rollback(True)
    err = capsys.readouterr().err
    assert (
        f"test clock close {close.pk} (2025-03-10, clock {clocked.clock.pk}) "
        f"transaction {txn}: changed"
    ) in err


def test_a_member_moved_to_another_clock_is_reported(closed):
    # Such a row would let the transaction join a second close of the clock it left.
    close = ClockClose.objects.get()
    found = problems_after(
        "UPDATE clearing_clockclosetransaction SET clock_id = NULL WHERE transaction_id = %s",
        [closed[0]],
    )
    assert found == [("close-record", close.pk, None)]
