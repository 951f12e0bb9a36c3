"""Round trips to PostgreSQL of one bulk of transfers: as many for 300 transfers as for 2,
events included (a count, so deterministic; timings are ``bench/bulk.py``'s business)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from sandbox.dbtrace import RoundTrips
from sandbox.events.models import Event
from tests.factories import AccountFactory, NodeFactory, fund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_bulk(party, pairs):
    body = {
        "mode": "atomic",
        "transfers": [
            {
                "source_account_id": str(source.pk),
                "destination_account_id": str(destination.pk),
                "amount": "0.01",
                "currency": "USD",
            }
            for source, destination in pairs
        ],
    }
    with RoundTrips(connection) as trips:
        response = party.api.post(
            "/api/v1/transfers/bulk", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )
    # Django's connection health check, when the settings ask for one, is not the API's.
    return response, [m for m in trips.messages if not m.startswith('Query "SELECT 1"')]


def test_a_bulk_takes_as_many_round_trips_for_300_transfers_as_for_2(alice):
    # given: a ring of accounts across two nodes, so that every transfer is inter-node
    nodes = [NodeFactory(tenant=alice.tenant) for _ in range(2)]
    ring = [AccountFactory(node=nodes[i % 2], currency="USD") for i in range(6)]
    for account in ring:
        fund(account, 10_000)
    pairs = [(ring[i % 6], ring[(i + 1) % 6]) for i in range(300)]
    post_bulk(alice, pairs[:2])  # warm: the persistent connection
    Event.objects.all().delete()

    # when
    small, small_trips = post_bulk(alice, pairs[:2])
    large, large_trips = post_bulk(alice, pairs)

    # then: BEGIN with the idempotency claim; the accounts; the checks made immediate with
    # the posting's first statement; the posting's INSERT; the balances, the events and the
    # answer with the COMMIT (the API key comes from Redis)
    assert small.status_code == large.status_code == 201, large.content
    assert len(large_trips) == len(small_trips) == 5, large_trips
    assert Event.objects.filter(type="ledger_transfer.posted").count() == 2 * (2 + 300)
