"""The money path's hot statements, prepared once per connection
(``sandbox.db.postgresql.prepared``): the PREPARE rides with the first use, later uses
only EXECUTE; and what could leave the client's idea of what is prepared wrong (a
rollback, a failed message, a new connection, a migration) does not."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, NotSupportedError, connection, transaction
from django.test import override_settings

from sandbox import writebehind
from sandbox.db.postgresql import prepared as prepared_module
from sandbox.db.postgresql.prepared import prepared
from sandbox.dbtrace import RoundTrips
from tests.factories import AccountFactory, NodeFactory, fund
from tests.test_db_backend import idle, terminate
from wallets.locking import lock_accounts, run_retrying

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NAME_OF = prepared("test_name_of", "SELECT name FROM wallets_account WHERE id = %s")
PERCENT = prepared("test_percent", "SELECT %(text)s::text || '%%'")
PROBE = prepared("test_probe", "SELECT v FROM test_prepared_probe WHERE id = %s")
SIZED = prepared("test_sized", "SELECT length(%(text)s::text), %(n)s::int + %(n)s::int, '%%'")


# What a transfer between two nodes' accounts prepares (its accounts are locked late, by
# their UPDATEs: ``wallets.locking``).
TRANSFER_STATEMENTS = {
    "sandbox_claim_idempotency_key",
    "sandbox_transfer_accounts",
    "sandbox_capped_nodes_2",
    "sandbox_post",
    "sandbox_read_accounts_2",
    "sandbox_apply_late",
    "sandbox_record_events",
    "sandbox_store_idempotent_answer",
}


def name_of(account) -> str:
    with connection.cursor() as cursor:
        cursor.execute(writebehind.bind(NAME_OF, [account.pk]))
        return cursor.fetchone()[0]


def on_server() -> set[str]:
    with connection.connection.cursor() as cursor:  # the driver's: nothing rides with it
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def post_transfer(party, source, destination):
    return party.api.post(
        "/api/v1/transfers",
        {
            "source_account_id": str(source.pk),
            "destination_account_id": str(destination.pk),
            "amount": "1.00",
            "currency": source.currency,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def two_accounts(party):
    source = AccountFactory(node=NodeFactory(tenant=party.tenant), currency="USD")
    fund(source, 10_000)
    return source, AccountFactory(node=NodeFactory(tenant=party.tenant), currency="USD")


@pytest.fixture
def sent_ahead(monkeypatch):
    """What the cursors send ahead of their statements (DEALLOCATE ALL, PREPAREs)."""
    sent: list[str] = []
    take_ahead = prepared_module.take_ahead

    def spy(conn):
        ahead, names = take_ahead(conn)
        sent.extend(ahead)
        return ahead, names

    monkeypatch.setattr(prepared_module, "take_ahead", spy)
    return sent


def test_the_first_use_prepares_in_its_own_message_and_later_ones_only_execute():
    account = AccountFactory(name="Main")
    with RoundTrips(connection) as first:
        assert name_of(account) == "Main"
    with RoundTrips(connection) as second:
        assert name_of(account) == "Main"

    assert first.count == second.count == 1
    assert first.messages[0].startswith('Query "PREPARE sandbox_test_name_of AS SELECT')
    assert second.messages[0].startswith('Query "EXECUTE sandbox_test_name_of(')
    assert "sandbox_test_name_of" in on_server()


def test_a_transfer_prepares_its_statements_without_a_round_trip_more(alice, sent_ahead):
    source, destination = two_accounts(alice)
    assert post_transfer(alice, source, destination).status_code == 201  # warm: the API key
    connection.close()
    sent_ahead.clear()
    with RoundTrips(connection) as first:  # a new connection
        assert post_transfer(alice, source, destination).status_code == 201
    prepares = list(sent_ahead)
    sent_ahead.clear()
    with RoundTrips(connection) as second:
        assert post_transfer(alice, source, destination).status_code == 201

    assert {p.split()[1] for p in prepares} >= {"sandbox_post", "sandbox_read_accounts_2"}
    assert not sent_ahead  # the second only executes
    assert first.count == second.count == 3
    assert on_server() >= TRANSFER_STATEMENTS


def test_the_hot_statements_keep_their_generic_plans(alice):
    # What it is for: after PostgreSQL's five custom plans, no planning at all. A
    # two-account transfer gets statements that list its two ids, not arrays, whose
    # generic plans would be costed for ten elements and lose to the custom ones.
    source, destination = two_accounts(alice)
    for _ in range(8):
        assert post_transfer(alice, source, destination).status_code == 201

    with connection.connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, generic_plans FROM pg_prepared_statements WHERE name LIKE 'sandbox_%'"
        )
        generic = dict(cursor.fetchall())
    assert all(generic[name] >= 2 for name in TRANSFER_STATEMENTS), generic


def test_a_longer_array_uses_the_array_statement_with_the_same_answer():
    accounts = AccountFactory.create_batch(5, node=NodeFactory())
    ids = [account.pk for account in accounts]
    with transaction.atomic():
        locked_two = lock_accounts(ids[:2])
        locked_five = lock_accounts(ids)
    assert set(locked_two) == set(ids[:2]) and set(locked_five) == set(ids)
    assert {"sandbox_lock_accounts_2", "sandbox_lock_accounts"} <= on_server()
    assert "sandbox_lock_accounts_5" not in on_server()


def test_a_batch_goes_as_sql_planned_for_its_size_and_small_calls_stay_prepared():
    # A generic plan costs each array as 10 elements: kept after five bulks of 8,000
    # transfers, the next bulk would run joins planned for 10 rows.
    batch = "x" * (prepared_module.PLANNED_ANEW_ABOVE + 1)

    def sized(text: str) -> tuple:
        with connection.cursor() as cursor:
            cursor.execute(writebehind.bind(SIZED, {"text": text, "n": 21}))
            return cursor.fetchone()

    with RoundTrips(connection) as trips:
        assert sized(batch) == (len(batch), 42, "%")
    assert trips.messages[0].startswith('Query "SELECT length(')
    assert "sandbox_test_sized" not in on_server()
    with RoundTrips(connection) as trips:
        assert sized("small") == (5, 42, "%")
    assert trips.messages[0].startswith('Query "PREPARE sandbox_test_sized AS SELECT')
    with RoundTrips(connection) as trips:
        assert sized(batch) == (len(batch), 42, "%")
    assert trips.messages[0].startswith('Query "SELECT length(')


def test_a_statement_prepared_in_a_rolled_back_transaction_stays_prepared():
    account = AccountFactory(name="Main")
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        assert name_of(account) == "Main"  # PREPARE, after the BEGIN
        raise ZeroDivisionError

    with RoundTrips(connection) as trips:
        assert name_of(account) == "Main"
    assert trips.messages[0].startswith('Query "EXECUTE sandbox_test_name_of(')


@pytest.mark.parametrize(
    "after",
    ["SELECT 1 / 0", "SELEC 1"],
    ids=["it-ran-before-a-later-statement-failed", "nothing-ran-the-message-was-unparsed"],
)
def test_after_a_failed_message_that_prepared_the_next_one_starts_over(after, sent_ahead):
    account = AccountFactory(name="Main")
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute(f"{writebehind.bind(NAME_OF, [account.pk])};\n{after}")
    sent_ahead.clear()

    assert name_of(account) == "Main"  # neither "already exists" nor "does not exist"
    assert [s.split(" AS ")[0] for s in sent_ahead] == [
        "DEALLOCATE ALL",
        "PREPARE sandbox_test_name_of",
    ]
    assert name_of(account) == "Main"


def test_nothing_is_prepared_in_a_failed_transaction_its_savepoint_rollback_goes_alone():
    account = AccountFactory(name="Main")
    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")
            writebehind.bind(NAME_OF, [account.pk])  # wanted while the transaction failed
        # ROLLBACK TO SAVEPOINT went without the PREPARE (it would have been refused).
        assert name_of(account) == "Main"


def test_a_percent_sign_in_a_prepared_statement_survives_a_statement_with_parameters():
    with transaction.atomic(), writebehind.deferring():
        writebehind.write(PERCENT, {"text": "100"})  # rides with the next, parametrised
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::text", ["50%"])
            assert cursor.fetchone() == ("50%",)
    with connection.cursor() as cursor:
        cursor.execute(writebehind.bind(PERCENT, {"text": "100"}))
        assert cursor.fetchone() == ("100%",)


def test_a_new_connection_prepares_again():
    account = AccountFactory(name="Main")
    assert name_of(account) == "Main"
    connection.close()  # CONN_MAX_AGE, a failed health check: the next one is new

    with RoundTrips(connection) as trips:
        assert name_of(account) == "Main"
    assert trips.messages[0].startswith('Query "PREPARE sandbox_test_name_of')


@pytest.fixture
def probe():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_prepared_probe (id int PRIMARY KEY, v int)")
        cursor.execute("INSERT INTO test_prepared_probe VALUES (1, 7)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE test_prepared_probe")


def probe_value() -> int:
    with connection.cursor() as cursor:
        cursor.execute(writebehind.bind(PROBE, [1]))
        return cursor.fetchone()[0]


def change_the_result_type() -> None:
    with connection.cursor() as cursor:  # what a migration could do
        cursor.execute("ALTER TABLE test_prepared_probe ALTER COLUMN v TYPE bigint")


def test_a_migration_that_changes_a_result_type_fails_one_statement_then_it_is_prepared_again(
    probe,
):
    assert probe_value() == 7
    change_the_result_type()

    with pytest.raises(NotSupportedError, match="cached plan must not change result type"):
        probe_value()
    assert probe_value() == 7


def test_a_ledger_transaction_meeting_a_changed_result_type_is_retried(probe):
    assert probe_value() == 7
    change_the_result_type()
    assert run_retrying(probe_value) == 7


def test_turned_off_the_same_statements_go_as_sql(alice):
    source, destination = two_accounts(alice)
    with override_settings(SANDBOX_DB_PREPARED_STATEMENTS=False):
        connection.close()  # read when a connection opens
        with RoundTrips(connection) as trips:
            assert post_transfer(alice, source, destination).status_code == 201
        server = on_server()
    connection.close()

    assert not server
    assert not any("PREPARE" in m or "EXECUTE" in m for m in trips.messages)
    assert connection.vendor == "postgresql"
    assert psycopg.pq.version() >= 140000  # libpq new enough for the trace used here


def test_a_connection_killed_while_idle_is_replaced_and_prepares_again(alice):
    source, destination = two_accounts(alice)
    assert post_transfer(alice, source, destination).status_code == 201
    pid = connection.connection.info.backend_pid
    terminate(pid)  # a restart, a failover: its prepared statements are gone with it
    idle(settings.SANDBOX_DB_HEALTH_CHECK_AFTER_IDLE + 1)
    connection.close_if_unusable_or_obsolete()  # the next request's health check

    assert post_transfer(alice, source, destination).status_code == 201
    assert connection.connection.info.backend_pid != pid
    assert "sandbox_post" in on_server()
