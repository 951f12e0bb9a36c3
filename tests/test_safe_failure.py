"""Safe failure (issue 13, item 3): a lost database or broker answers 503 with Retry-After,
JSON in the error shape on the API, a plain page in the dashboard, never a debug page."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection, connections
from django.test.utils import override_settings
from kombu.exceptions import OperationalError as BrokerOperationalError

from sandbox.outage import is_outage
from tests.factories import AccountFactory, NodeFactory, fund
from tests.helpers import error_code, ledger_state
from wallets.models import LedgerTransaction


@contextmanager
def database_lost(when=lambda: True):
    """Every new cursor fails as on a dropped connection while ``when()`` holds."""
    real = connection.ensure_connection

    def ensure_connection():
        if when():
            raise OperationalError("server closed the connection unexpectedly")
        return real()

    with mock.patch.object(connection, "ensure_connection", side_effect=ensure_connection):
        yield


def assert_api_unavailable(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("application/json")
    assert error_code(response) == "service_unavailable"
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_outages_are_told_apart_from_conflicts():
    assert is_outage(OperationalError("server closed the connection unexpectedly"))
    assert is_outage(InterfaceError("connection already closed"))
    assert is_outage(BrokerOperationalError("Error 111 connecting to localhost:6379."))
    assert not is_outage(OperationalError("database is locked"))
    assert not is_outage(OperationalError("canceling statement due to lock timeout"))
    assert not is_outage(ValueError("no"))

    def chained(cause):
        exc = OperationalError(str(cause))
        exc.__cause__ = cause
        return exc

    class PgError(Exception):
        def __init__(self, sqlstate):
            self.sqlstate = sqlstate

    assert is_outage(chained(PgError("08006")))  # connection_failure
    assert is_outage(chained(PgError("57P01")))  # admin_shutdown
    assert is_outage(chained(PgError("53300")))  # too_many_connections
    assert not is_outage(chained(PgError("40001")))  # serialization failure: retried
    assert not is_outage(chained(PgError("55P03")))  # lock_not_available
    assert is_outage(chained(OSError("connection timeout expired")))  # no SQLSTATE: gone
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorname = "SQLITE_BUSY"
    assert not is_outage(chained(busy))
    cannot_open = sqlite3.OperationalError("unable to open database file")
    cannot_open.sqlite_errorname = "SQLITE_CANTOPEN"
    assert is_outage(chained(cannot_open))


@override_settings(DEBUG=True)
def test_an_api_get_answers_503_when_the_database_is_lost(alice):
    api = alice.api
    with database_lost():
        response = api.get("/api/v1/accounts")
    assert_api_unavailable(response)


def terminate(backend_pid: int) -> None:
    """End a PostgreSQL backend from another connection, as a restart or a network cut
    would: its next message fails."""
    side = connections.create_connection("default")
    try:
        with side.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    finally:
        side.close()


def post_while_the_connection_goes(alice, source, destination, *, after_the_commit: bool):
    """``POST /api/v1/transfers``, whose connection is ended for real at the ledger
    transaction's last round trip (the balances, the events and the answer, with the
    COMMIT, on the transaction's one cursor): before that message is sent, or after its
    COMMIT has gone through but before the app reads the answer."""
    round_trips_in_transaction = []

    def lost_at_the_last_round_trip(execute, sql, params, many, context):
        if not connection.in_atomic_block:
            return execute(sql, params, many, context)
        round_trips_in_transaction.append(sql)
        if len(round_trips_in_transaction) < 3:
            return execute(sql, params, many, context)
        assert "COMMIT" in sql
        if after_the_commit:
            execute(sql, params, many, context)
            raise OperationalError("server closed the connection unexpectedly")
        terminate(connection.connection.info.backend_pid)
        return execute(sql, params, many, context)

    body = {
        "source_account_id": str(source.pk),
        "destination_account_id": str(destination.pk),
        "amount": "250",
        "currency": "KRW",
    }
    with override_settings(DEBUG=True), connection.execute_wrapper(lost_at_the_last_round_trip):
        response = alice.api.post(
            "/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY="lost-db-1"
        )
    assert len(round_trips_in_transaction) == 3
    # Start again from a fresh connection, whatever state the lost one was left in.
    connection.close()
    connection.connect()
    assert connection.get_autocommit()
    return response, body


@pytest.fixture
def funded_accounts(alice):
    node = NodeFactory(tenant=alice.tenant)
    source, destination = node.wallet.accounts.get(), AccountFactory(node=node)
    fund(source, 1_000)
    return source, destination


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_money_post_writes_nothing_when_the_database_goes_mid_transaction(alice, funded_accounts):
    before = ledger_state()
    response, _ = post_while_the_connection_goes(alice, *funded_accounts, after_the_commit=False)
    assert_api_unavailable(response)
    assert ledger_state() == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_money_post_lost_after_its_commit_is_answered_once_its_key_is_sent_again(
    alice, funded_accounts
):
    # The client cannot tell this 503 from the one before: the transfer may or may not
    # have happened. Sending the same Idempotency-Key again tells it, and never posts twice.
    source, destination = funded_accounts
    transactions_before = LedgerTransaction.objects.count()
    response, body = post_while_the_connection_goes(
        alice, source, destination, after_the_commit=True
    )
    assert_api_unavailable(response)
    again = alice.api.post(
        "/api/v1/transfers", body, format="json", HTTP_IDEMPOTENCY_KEY="lost-db-1"
    )
    assert again.status_code == 201
    assert LedgerTransaction.objects.count() == transactions_before + 1
    source.refresh_from_db()
    assert source.posted_balance == 750


@override_settings(DEBUG=True)
def test_a_dashboard_page_answers_a_plain_503_page_when_the_database_is_lost(alice):
    web = alice.web
    web.raise_request_exception = False
    with database_lost():
        response = web.get("/wallets/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Briefly unavailable" in page
    assert "Traceback" not in page and "OperationalError" not in page
    assert len(page) < 2_000


@override_settings(DEBUG=True)
def test_an_outage_raised_inside_a_view_answers_503(client, db):
    with mock.patch(
        "django.contrib.auth.views.LoginView.get", side_effect=OperationalError("gone")
    ):
        response = client.get("/login/")
    assert response.status_code == 503
    assert "Briefly unavailable" in response.content.decode()


@override_settings(DEBUG=True)
def test_a_lost_broker_raised_in_an_api_view_answers_503(alice):
    with mock.patch(
        "sandbox.tenants.authentication.ApiKeyAuthentication.authenticate",
        side_effect=BrokerOperationalError("Error 111 connecting to localhost:6379."),
    ):
        response = alice.api.get("/api/v1/accounts")
    assert_api_unavailable(response)


def test_an_ordinary_error_is_still_a_500(alice):
    api = alice.api
    api.raise_request_exception = False
    with mock.patch(
        "sandbox.tenants.authentication.ApiKeyAuthentication.authenticate",
        side_effect=RuntimeError("a bug"),
    ):
        response = api.get("/api/v1/accounts")
    assert response.status_code == 500
