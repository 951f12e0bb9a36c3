"""Safe failure (issue 13, item 3): a lost database or broker answers 503 with Retry-After,
JSON in the error shape on the API, a plain page in the dashboard, never a debug page."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test.utils import override_settings
from kombu.exceptions import OperationalError as BrokerOperationalError

from sandbox.outage import is_outage
from tests.factories import AccountFactory, NodeFactory, fund
from tests.helpers import error_code, ledger_state


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


@pytest.mark.django_db(transaction=True)
def test_a_money_post_writes_nothing_when_the_database_goes_mid_transaction(alice):
    node = NodeFactory(tenant=alice.tenant)
    source, destination = node.wallet.accounts.get(), AccountFactory(node=node)
    fund(source, 1_000)
    before = ledger_state()
    round_trips_in_transaction = []

    def lost_at_the_last_round_trip(execute, sql, params, many, context):
        # The request authenticates, opens the ledger's transaction and writes (the claim,
        # the posting's INSERT, on the transaction's one cursor); then the connection goes,
        # at the last round trip (the balances, the events and the answer, with the COMMIT).
        if connection.in_atomic_block:
            round_trips_in_transaction.append(sql)
            if len(round_trips_in_transaction) > 2:
                raise OperationalError("server closed the connection unexpectedly")
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
    assert_api_unavailable(response)
    assert len(round_trips_in_transaction) == 3
    assert "COMMIT" in round_trips_in_transaction[-1]
    # Start the next test from a fresh connection, whatever state the "lost" one was left in.
    connection.close()
    connection.connect()
    assert connection.get_autocommit()
    assert ledger_state() == before


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
