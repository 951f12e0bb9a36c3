"""The roll-up under concurrency: a posting committed while a fold or a recut of the roll-up
is under way, on another connection, is counted exactly once. Afterwards the roll-up adds
up to what the entries do, and every chart drawn from it equals the chart summed from the
ledger."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from tests.charts.test_account_days import (
    TODAY,
    at,
    charts_agree,
    platform_time,
    rolled_up,
    summed,
    transfer,
)
from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from tests.helpers import run_in_threads
from wallets import account_days, tasks
from wallets.models import Account, AccountDay

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30  # seconds: a step that never comes fails the test instead of hanging it


class Step:
    """A point one thread waits for and another reaches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def reached(self) -> None:
        self._event.set()

    def wait(self) -> None:
        assert self._event.wait(TIMEOUT), "the other thread never got there"


def side_by_side(*sides: Callable[[], object]) -> None:
    """Run each side in its own thread, on its own connection, all at once; none fails."""
    results = run_in_threads(lambda i: sides[i](), len(sides))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors


def until_a_session_waits_for_a_lock() -> None:
    """Wait until another session of this database waits for a heavyweight lock (or give
    up after a while, and let the test's figures tell what happened)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            # A transaction reads the sessions' activity once, unless told to read it again.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)


def pausing_the_fold_after_its_statement(monkeypatch, pause: Callable[[], None]) -> None:
    """The fold runs its one statement, then ``pause``s before its COMMIT."""
    original = account_days._fold

    def fold(accounts, since):
        folded = original(accounts, since)
        pause()
        return folded

    monkeypatch.setattr(account_days, "_fold", fold)


@pytest.fixture
def shop() -> tuple[Account, Account]:
    """A node's main account and a second one, whose roll-up has several rows a key: a
    deposit and two transfers today, each its own INSERT."""
    tenant = TenantFactory()
    node = NodeFactory(tenant=tenant)
    main, second = node.wallet.accounts.get(), AccountFactory(node=node)
    platform_time(at(TODAY))
    fund(main, 10_000)
    transfer(main, second, 100)
    transfer(main, second, 20)
    assert AccountDay.objects.filter(account=main).count() == 3
    return main, second


def counted_once(main: Account, monkeypatch) -> None:
    assert rolled_up() == summed()
    charts_agree(main.tenant, monkeypatch)


def test_a_posting_committed_while_a_fold_is_under_way_is_counted_once(shop, monkeypatch):
    main, second = shop
    folded, posted = Step(), Step()

    def fold_waiting_for_the_posting() -> None:
        folded.reached()
        posted.wait()

    pausing_the_fold_after_its_statement(monkeypatch, fold_waiting_for_the_posting)

    def posting() -> None:
        folded.wait()
        transfer(main, second, 3)  # committed before the fold's COMMIT
        posted.reached()

    side_by_side(lambda: tasks.fold_account_days(), posting)

    counted_once(main, monkeypatch)
    assert AccountDay.objects.filter(account=main).count() == 2  # the fold's, the posting's


def test_a_posting_begun_before_a_fold_and_committed_after_it_is_counted_once(shop, monkeypatch):
    main, second = shop
    inserted, folded = Step(), Step()

    def posting() -> None:
        with transaction.atomic():
            transfer(main, second, 3)  # its roll-up rows written, not committed
            inserted.reached()
            folded.wait()

    def fold() -> int:
        inserted.wait()
        try:
            return tasks.fold_account_days()
        finally:
            folded.reached()

    side_by_side(posting, fold)

    counted_once(main, monkeypatch)
    assert AccountDay.objects.filter(account=main).count() == 2


def test_a_posting_made_while_a_recut_is_under_way_is_counted_once(shop, monkeypatch):
    main, second = shop
    truncated = Step()

    def recut() -> None:
        # Between the TRUNCATE and the backfill, the posting comes and waits for the
        # recut's lock on the roll-up.
        def pause_after_the_truncate(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if sql.startswith("TRUNCATE"):
                truncated.reached()
                until_a_session_waits_for_a_lock()
            return result

        with connection.execute_wrapper(pause_after_the_truncate):
            account_days.rebuild()

    def posting() -> None:
        truncated.wait()
        transfer(main, second, 3)

    side_by_side(recut, posting)

    counted_once(main, monkeypatch)


def test_a_posting_begun_before_a_recut_and_committed_after_it_began_is_counted_once(
    shop, monkeypatch
):
    main, second = shop
    inserted = Step()

    def posting() -> None:
        with transaction.atomic():
            transfer(main, second, 3)
            inserted.reached()
            until_a_session_waits_for_a_lock()  # the recut's TRUNCATE, for this COMMIT

    def recut() -> None:
        inserted.wait()
        account_days.rebuild()

    side_by_side(posting, recut)

    counted_once(main, monkeypatch)
