"""Round trips to PostgreSQL of one API transfer: a count, so deterministic (timings are
the benchmarks' business, ``bench/ledger.py``)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from sandbox.dbtrace import RoundTrips
from sandbox.events.models import Event
from tests.factories import AccountFactory, NodeFactory, fund
from wallets.models import IdempotencyKey
from wallets.posting import read_ahead_keep, read_ahead_take, reading_ahead

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_transfer(party, source, destination, amount="1.00", key=None):
    """The response, and the round trips of the request but its API key's lookup (the
    authentication's business: it may come from a cache)."""
    body = {
        "source_account_id": str(source.pk),
        "destination_account_id": str(destination.pk),
        "amount": amount,
        "currency": source.currency,
    }
    with RoundTrips(connection) as trips:
        connection.close_if_unusable_or_obsolete()  # as at the start of a served request
        response = party.api.post(
            "/api/v1/transfers",
            body,
            format="json",
            HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
        )
    return response, [m for m in trips.messages if not m.startswith('Query "SELECT k.id')]


def accounts(party, nodes: int = 1):
    first = NodeFactory(tenant=party.tenant)
    second = NodeFactory(tenant=party.tenant) if nodes == 2 else first
    source = AccountFactory(node=first, currency="USD")
    fund(source, 10_000)
    return source, AccountFactory(node=second, currency="USD")


def test_a_transfer_takes_three_round_trips_besides_its_api_key(alice):
    source, destination = accounts(alice)
    post_transfer(alice, source, destination)  # warm: the persistent connection

    response, trips = post_transfer(alice, source, destination)

    assert response.status_code == 201, response.content
    # No health check on a connection that just answered. BEGIN with the idempotency claim,
    # the platform clock and the accounts; the posting's INSERT with the lock (and the
    # accounts' nodes and clocks); the balances, the events and the stored answer, with
    # the COMMIT.
    assert len(trips) == 3, trips
    assert trips[0].startswith('Query "BEGIN;') and "SELECT 1" not in trips[0]


def test_an_inter_node_transfer_reads_the_net_debit_caps_with_the_claim(alice):
    source, destination = accounts(alice, nodes=2)
    post_transfer(alice, source, destination)

    response, trips = post_transfer(alice, source, destination)

    assert response.status_code == 201, response.content
    assert len(trips) == 3, trips


def test_what_rides_with_the_commit_is_committed_and_replayed(alice):
    source, destination = accounts(alice, nodes=2)
    key = str(uuid.uuid4())

    first, _ = post_transfer(alice, source, destination, "12.34", key=key)
    again, _ = post_transfer(alice, source, destination, "12.34", key=key)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    source.refresh_from_db()
    destination.refresh_from_db()
    assert (source.posted_balance, destination.posted_balance) == (10_000 - 1234, 1234)
    transfer_events = Event.objects.filter(object_id=first.json()["id"])
    assert transfer_events.count() == 2
    stored = IdempotencyKey.objects.get(key=key)
    assert (stored.response_status, stored.response_body) == (201, first.json())


def test_a_refused_transfer_commits_nothing_and_frees_its_key(alice):
    source, destination = accounts(alice)
    key = str(uuid.uuid4())

    refused, _ = post_transfer(alice, source, destination, "1000.00", key=key)

    assert refused.status_code == 422
    assert not IdempotencyKey.objects.filter(key=key).exists()
    source.refresh_from_db()
    assert source.posted_balance == 10_000
    assert not Event.objects.filter(type="ledger_transfer.posted").exists()


def test_a_posting_check_read_sent_ahead_serves_only_its_own_transaction_attempt():
    read_ahead_keep("capped", [(1,)])  # outside an attempt: kept nowhere
    with reading_ahead():
        assert read_ahead_take("capped") is None
        read_ahead_keep("capped", [(1,)])
        assert read_ahead_take("capped") == [(1,)]
        assert read_ahead_take("capped") is None  # taken once
        read_ahead_keep("capped", [(2,)])
    with reading_ahead():  # the next attempt (a retry, another request) asks again
        assert read_ahead_take("capped") is None
