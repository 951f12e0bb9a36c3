"""The PostgreSQL backend (``sandbox.db.postgresql``): a transaction's BEGIN rides with its
first statement, and the health check runs only on a connection that idled; with Django's
transactions working as they always did."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, IntegrityError, ProgrammingError, connection, transaction

from sandbox.dbtrace import RoundTrips
from tests.factories import AccountFactory, NodeFactory
from wallets.models import Account

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def name_of(account) -> str:
    account.refresh_from_db()
    return account.name


def test_a_transaction_sends_its_begin_with_its_first_statement():
    account = AccountFactory(name="before")

    with RoundTrips(connection) as trips, transaction.atomic():
        updated = Account.objects.filter(pk=account.pk).update(name="after")
        names = list(Account.objects.filter(pk=account.pk).values_list("name", flat=True))

    assert trips.messages[0].startswith('Query "BEGIN;')
    assert trips.count == 3  # BEGIN with the UPDATE, the SELECT, the COMMIT
    assert (updated, names) == (1, ["after"])  # each statement's own results
    assert name_of(account) == "after"


def test_a_transaction_that_runs_nothing_sends_nothing():
    connection.ensure_connection()
    with RoundTrips(connection) as trips, transaction.atomic():
        pass
    assert trips.count == 0
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_an_error_in_the_first_statement_rolls_the_transaction_back():
    account = AccountFactory(name="before")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(  # the same id: refused by the primary key
            id=account.pk, wallet=account.wallet, tenant=account.tenant, currency="USD"
        )
    with transaction.atomic():  # the connection goes on, in a new transaction
        Account.objects.filter(pk=account.pk).update(name="after")
    assert name_of(account) == "after"


@pytest.mark.parametrize(
    "refused",
    [
        ("SELECT %s", ["a\x00b"]),  # psycopg refuses it before sending anything
        ("SELEC 1", None),  # the server refuses the whole message unparsed
    ],
    ids=["refused-by-the-driver", "refused-unparsed-by-the-server"],
)
def test_a_first_statement_refused_before_it_ran_leaves_the_begin_due(refused):
    account = AccountFactory(name="before")

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        with pytest.raises(DatabaseError), connection.cursor() as cursor:
            cursor.execute(*refused)  # caught: the block goes on
        Account.objects.filter(pk=account.pk).update(name="inside")
        status = connection.connection.info.transaction_status
        raise ZeroDivisionError  # and then rolls back

    assert status == psycopg.pq.TransactionStatus.INTRANS  # not autocommitted
    assert name_of(account) == "before"


def test_outside_autocommit_a_commit_opens_the_next_transaction():
    account = AccountFactory(name="before")
    transaction.set_autocommit(False)
    try:
        Account.objects.filter(pk=account.pk).update(name="first")
        transaction.commit()
        Account.objects.filter(pk=account.pk).update(name="second")
        status = connection.connection.info.transaction_status
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)

    assert status == psycopg.pq.TransactionStatus.INTRANS
    assert name_of(account) == "first"


def test_turning_autocommit_back_on_inside_a_transaction_is_refused_as_stock():
    transaction.set_autocommit(False)
    try:
        AccountFactory(name="inside")  # the BEGIN went: the server is in a transaction
        with pytest.raises(ProgrammingError, match="can't change 'autocommit' now"):
            connection.set_autocommit(True)
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_savepoint_first_is_begun_and_rolls_back_alone():
    account = AccountFactory(name="before")
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), transaction.atomic():  # SAVEPOINT first
            Account.objects.filter(pk=account.pk).update(name="inside")
            raise ZeroDivisionError
        assert name_of(account) == "before"
        Account.objects.filter(pk=account.pk).update(name="after")
    assert name_of(account) == "after"


def test_a_rolled_back_transaction_leaves_nothing():
    account = AccountFactory(name="before")
    with transaction.atomic():
        Account.objects.filter(pk=account.pk).update(name="after")
        transaction.set_rollback(True)
    assert name_of(account) == "before"


def test_named_cursors_first_in_a_transaction_begin_it():
    node = NodeFactory()
    AccountFactory.create_batch(3, node=node)
    with transaction.atomic():
        # Django's server-side cursor (DECLARE without HOLD needs a transaction)...
        ids = list(Account.objects.order_by("pk").values_list("pk", flat=True).iterator(2))
    with transaction.atomic(), connection.connection.cursor(name="raw", withhold=False) as cur:
        cur.execute("SELECT count(*) FROM wallets_account")  # ... and psycopg's own
        (count,) = cur.fetchone()
    assert len(ids) == count >= 3


def test_a_busy_connection_is_not_health_checked():
    AccountFactory()
    connection.close_if_unusable_or_obsolete()  # a request starts (``request_started``)
    with RoundTrips(connection) as trips:
        Account.objects.count()
    assert trips.messages == [trips.messages[0]] and "SELECT 1" not in trips.messages[0]


def idle(seconds: float) -> None:
    """As if the server had last answered ``seconds`` ago."""
    connection.connection.sandbox_state.last_answer -= seconds


def terminate(pid: int) -> None:
    db = settings.DATABASES["default"]
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=db["USER"],
        host=db["HOST"],
        port=db["PORT"] or None,
        password=db["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def test_an_idle_connection_is_health_checked():
    connection.ensure_connection()
    idle(settings.SANDBOX_DB_HEALTH_CHECK_AFTER_IDLE + 1)
    connection.close_if_unusable_or_obsolete()
    with RoundTrips(connection) as trips:
        Account.objects.count()
    assert trips.messages[0] == 'Query "SELECT 1"' and trips.count == 2


def test_a_connection_killed_while_idle_is_replaced_before_the_request_uses_it(alice):
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    terminate(pid)  # the server ends that backend (a restart, say) while it idles
    idle(settings.SANDBOX_DB_HEALTH_CHECK_AFTER_IDLE + 1)
    connection.close_if_unusable_or_obsolete()

    response = alice.api.get("/api/v1/nodes")

    assert response.status_code == 200, response.content
    assert connection.connection.info.backend_pid != pid
