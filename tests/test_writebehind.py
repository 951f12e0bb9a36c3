"""Writes that ride with the next statement (``sandbox.writebehind``): every later statement
sees them, a rolled-back savepoint undoes them, the end of the block sends them, an
exception drops them, and ``commit=True`` commits with them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction

from sandbox import writebehind
from sandbox.dbtrace import RoundTrips
from tests.factories import AccountFactory
from wallets.models import LedgerTransaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

RENAME = "UPDATE wallets_account SET name = %s WHERE id = %s"


class Boom(Exception):
    pass


def name_of(account) -> str:
    account.refresh_from_db()
    return account.name


def test_a_queued_write_waits_and_then_rides_with_the_next_statement():
    account = AccountFactory(name="before")
    with writebehind.deferring():
        with RoundTrips(connection) as queued:
            writebehind.write(RENAME, ["after 100%", account.pk])
        with RoundTrips(connection) as read:
            assert name_of(account) == "after 100%"  # the read sees it
    assert (queued.count, read.count) == (0, 1)


def test_the_end_of_the_block_sends_what_waits():
    account = AccountFactory(name="before")
    with writebehind.deferring():
        writebehind.write(RENAME, ["after", account.pk])
    with writebehind.deferring():
        pass  # nothing waits: nothing to send
    assert name_of(account) == "after"


def test_an_exception_drops_what_waits():
    account = AccountFactory(name="before")
    with pytest.raises(Boom), writebehind.deferring():
        writebehind.write(RENAME, ["after", account.pk])
        raise Boom
    assert name_of(account) == "before"


def test_a_rolled_back_savepoint_undoes_what_was_queued_inside_it():
    account = AccountFactory(name="before")
    with writebehind.deferring(), pytest.raises(Boom), transaction.atomic():
        writebehind.write(RENAME, ["inside", account.pk])
        raise Boom
    assert name_of(account) == "before"


@pytest.mark.django_db(transaction=True)
def test_commit_true_commits_with_the_last_writes_in_one_round_trip():
    account = AccountFactory(name="before")
    with (
        RoundTrips(connection) as trips,
        transaction.atomic(),
        writebehind.deferring(commit=True),
    ):
        writebehind.write(RENAME, ["after", account.pk])
    assert trips.count == 1  # BEGIN, the UPDATE and the COMMIT
    assert not connection.in_atomic_block
    assert name_of(account) == "after"


@pytest.mark.django_db(transaction=True)
def test_commit_true_leaves_a_transaction_marked_for_rollback_to_roll_back():
    account = AccountFactory(name="before")
    with transaction.atomic(), writebehind.deferring(commit=True):
        writebehind.write(RENAME, ["after", account.pk])
        transaction.set_rollback(True)
    assert name_of(account) == "before"


def test_a_block_lends_one_cursor_to_its_statements_and_closes_it_at_its_end():
    account = AccountFactory(name="before")
    with writebehind.deferring():
        with writebehind.cursor() as first:
            first.execute("SELECT name FROM wallets_account WHERE id = %s", [account.pk])
            assert first.fetchall() == [("before",)]
        writebehind.write(RENAME, ["after", account.pk])
        with writebehind.cursor() as second:  # the same one, and the write rides with it
            second.execute("SELECT name FROM wallets_account WHERE id = %s", [account.pk])
            assert second.fetchall() == [("after",)]
        assert second is first and not first.closed
    assert first.closed


def test_an_exception_closes_the_blocks_cursor_too():
    with pytest.raises(Boom), writebehind.deferring():
        with writebehind.cursor() as cursor:
            cursor.execute("SELECT 1")
        raise Boom
    assert cursor.closed


def test_outside_a_block_each_cursor_is_new_and_closed_after_use():
    with writebehind.cursor() as first:
        first.execute("SELECT 1")
    with writebehind.cursor() as second:
        second.execute("SELECT 1")
    assert second is not first
    assert first.closed and second.closed


@pytest.mark.parametrize(
    ("value", "pg_type"),
    [
        (None, "text"),
        (True, "boolean"),
        (-(2**62), "bigint"),
        ('it\'s 100% \\ back\\slash "quoted" ünïcode 🙂 $$ ;-- %s', "text"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "uuid"),
        (datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC), "timestamptz"),
        ([1, None, -3], "bigint[]"),
        ([uuid.UUID(int=1), None], "uuid[]"),
        (Decimal("1.50"), "numeric"),  # not plain: bound by psycopg's mogrify, as before
        (LedgerTransaction.Kind.TRANSFER, "text"),  # a str subclass, bound as its text
    ],
)
def test_a_queued_write_is_bound_to_what_a_cursor_would_send(value, pg_type):
    sql = f"SELECT %s::{pg_type}"
    with connection.cursor() as cursor:
        cursor.execute(writebehind.bind(sql, [value]))
        (bound,) = cursor.fetchone()
        cursor.execute(sql, [value])
        (given,) = cursor.fetchone()
    assert bound == given == value


def test_named_placeholders_and_percent_signs_are_bound_as_a_cursor_would():
    sql = "SELECT %(a)s::text || '%%' || %(b)s::text"
    assert writebehind.bind(sql, {"a": "x%s", "b": 5}) == "SELECT 'x%s'::text || '%' || 5::text"
