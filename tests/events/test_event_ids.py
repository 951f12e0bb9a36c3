"""New events get time-ordered ids (version 7 uuids, RFC 9562) from every writer: the ORM,
``events_record``'s INSERT and a bulk's own INSERT. The id holds the event's time to the
microsecond, so a statement's events, a microsecond apart, have increasing ids, and new
ids land on the right edge of the primary key's index (migration events 0006)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from sandbox.events.models import Event, epoch_microseconds, new_event_id
from sandbox.events.services import NewEvent, event_record, events_record
from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from wallets import services
from wallets.services import TransferRequest

pytestmark = pytest.mark.django_db


def milliseconds(event_id: uuid.UUID) -> int:
    """The Unix time in milliseconds a version 7 uuid holds (its first 48 bits)."""
    return event_id.int >> 80


def as_milliseconds(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def test_the_models_default_is_a_version_7_uuid_of_now():
    before = as_milliseconds(datetime.now(UTC))
    ids = [new_event_id() for _ in range(50)]
    after = as_milliseconds(datetime.now(UTC))
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}
    assert all(before <= milliseconds(i) <= after for i in ids)
    assert len(set(ids)) == 50
    moment = datetime(2026, 12, 7, 12, 41, 53, 781_913, tzinfo=UTC)
    assert milliseconds(new_event_id(epoch_microseconds(moment))) == as_milliseconds(moment)


def test_an_orm_event_gets_a_time_ordered_id():
    node = NodeFactory()
    with transaction.atomic():
        event = event_record(tenant=None, node=node, type="test.happened", data={})
    assert event.id.version == 7
    assert abs(milliseconds(event.id) - as_milliseconds(event.created_at)) < 1000


@pytest.mark.postgres
def test_events_recorded_together_get_ids_in_the_order_of_their_created_at():
    # given: many events of one tenant and two nodes, recorded by one INSERT
    tenant = TenantFactory()
    seoul, tokyo = NodeFactory(tenant=tenant), NodeFactory(tenant=tenant)
    new = [
        NewEvent(node_id=node.pk, tenant_id=tenant.pk, type="test.happened", data={"n": n})
        for n in range(40)
        for node in (seoul, tokyo)
    ]

    # when
    with transaction.atomic():
        events_record(new)

    # then: each id holds its event's time, and the ids sort as the events were recorded
    recorded = list(Event.objects.filter(type="test.happened").order_by("created_at"))
    assert [e.data["n"] for e in recorded] == [n for n in range(40) for _ in (seoul, tokyo)]
    assert {e.id.version for e in recorded} == {7}
    assert all(milliseconds(e.id) == as_milliseconds(e.created_at) for e in recorded)
    assert [e.id for e in recorded] == sorted(e.id for e in recorded)


@pytest.mark.postgres
def test_a_bulks_events_get_ids_in_the_order_of_their_created_at():
    # given: transfers inside one node and across two
    tenant = TenantFactory()
    seoul, tokyo = NodeFactory(tenant=tenant), NodeFactory(tenant=tenant)
    a, b, c = AccountFactory(node=seoul), AccountFactory(node=seoul), AccountFactory(node=tokyo)
    fund(a, 1_000_000)
    requests = [
        TransferRequest(source=a, destination=c if i % 2 else b, amount=10 + i, currency="KRW")
        for i in range(30)
    ]

    # when
    services.transfer_bulk_create(tenant=tenant, requests=requests, mode="atomic")

    # then
    recorded = list(Event.objects.filter(type="ledger_transfer.posted").order_by("created_at"))
    assert len(recorded) == 45
    assert {e.id.version for e in recorded} == {7}
    assert all(milliseconds(e.id) == as_milliseconds(e.created_at) for e in recorded)
    assert [e.id for e in recorded] == sorted(e.id for e in recorded)


@pytest.mark.postgres
def test_postgresqls_ids_count_microseconds_within_the_millisecond():
    start = datetime(2026, 12, 7, 12, 41, 53, 781_913, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT events_event_id(%s + n) FROM generate_series(0, 2500) AS n ORDER BY n",
            [epoch_microseconds(start)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    assert ids == sorted(ids)
    assert milliseconds(ids[0]) == as_milliseconds(start)
    assert milliseconds(ids[-1]) == as_milliseconds(start + timedelta(microseconds=2500))
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}


@pytest.mark.postgres
def test_one_insert_of_many_events_is_refused_if_any_names_a_missing_tenant_or_node():
    tenant = TenantFactory()
    nodes = [NodeFactory(tenant=tenant) for _ in range(3)]
    missing = uuid.uuid4()

    def record_with(*, node_id=None, tenant_id=None):
        with transaction.atomic():
            events_record(
                [
                    NewEvent(node_id=node.pk, tenant_id=tenant.pk, type="test.happened")
                    for node in nodes
                ]
                + [NewEvent(node_id=node_id, tenant_id=tenant_id or tenant.pk, type="test.x")]
            )

    with pytest.raises(IntegrityError, match=f"node_id {missing} is not present"):
        record_with(node_id=missing)
    with pytest.raises(IntegrityError, match=f"tenant_id {missing} is not present"):
        record_with(tenant_id=missing)
    assert not Event.objects.filter(type__startswith="test.").exists()
    record_with(node_id=None)  # no node is fine
    assert Event.objects.filter(type__startswith="test.").count() == 4
