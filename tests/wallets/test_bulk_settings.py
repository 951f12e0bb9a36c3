"""What a large bulk changes in its PostgreSQL session (``wallets.posting.LARGE_BATCH``,
``sandbox.events.services.ROOM_PER_EVENT_KB``): JIT off, and room in ``work_mem`` for its
events, for its own transaction only, never less room than was set."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from sandbox.events.services import ROOM_PER_EVENT_KB
from tests.factories import AccountFactory, NodeFactory, fund
from wallets import services
from wallets.posting import LARGE_BATCH
from wallets.services import TransferRequest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def session_settings() -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('jit'), pg_size_bytes(current_setting('work_mem')) / 1024"
        )
        jit, work_mem_kb = cursor.fetchone()
    return {"jit": jit, "work_mem_kb": work_mem_kb}


def bulk(count: int) -> dict[str, object]:
    """Post ``count`` inter-node transfers in one bulk; the settings seen right after it,
    in its transaction."""
    first = NodeFactory()
    nodes = [first, NodeFactory(tenant=first.tenant)]
    ring = [AccountFactory(node=nodes[i % 2]) for i in range(4)]
    for account in ring:
        fund(account, 10_000)
    requests = [
        TransferRequest(source=ring[i % 4], destination=ring[(i + 1) % 4], amount=1, currency="KRW")
        for i in range(count)
    ]
    with transaction.atomic():
        services.transfer_bulk_create(tenant=first.tenant, requests=requests, mode="atomic")
        return session_settings()


def test_a_large_bulk_runs_without_jit_with_room_for_its_events_and_leaves_both_behind():
    # given: a bulk of more transfers than the default 4 MB holds events of (two each)
    before = session_settings()
    count = 1100

    # when
    during = bulk(count)

    # then
    assert during == {
        "jit": "off",
        "work_mem_kb": max(before["work_mem_kb"], 2 * count * ROOM_PER_EVENT_KB),
    }
    assert session_settings() == before


def test_a_bulk_never_lowers_the_room_already_set_and_a_small_one_changes_nothing():
    # given: more work_mem than the bulk would ask for
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '64MB'")
    try:
        # when
        large = bulk(1100)
        small = bulk(LARGE_BATCH)

        # then
        assert large == {"jit": "off", "work_mem_kb": 64 * 1024}
        assert small == {"jit": session_settings()["jit"], "work_mem_kb": 64 * 1024}
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET work_mem")
