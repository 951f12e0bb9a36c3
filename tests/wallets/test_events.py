"""Every ledger change records its event in the transaction of the change, for each node it
touches, and the events reach the node's webhook through the outbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sandbox import clock
from sandbox.errors import ApplicationError
from sandbox.events import clocks
from sandbox.events.models import Event
from sandbox.events.services import webhook_secret_current
from sandbox.tenants.services import SYSTEM
from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from tests.helpers import pump
from wallets import events, presenters, services
from wallets.models import Hold, LedgerTransaction
from wallets.posting import PostingRefused
from wallets.services import TransferRequest

pytestmark = pytest.mark.django_db


def transfer_request(source, destination, amount, **extra) -> TransferRequest:
    return TransferRequest(
        source=source, destination=destination, amount=amount, currency=source.currency, **extra
    )


def ledger_events():
    """The events the ledger recorded (the tests' factories record none of their own)."""
    return Event.objects.filter(type__in=_LEDGER_TYPES).order_by("node__name", "created_at")


_LEDGER_TYPES = [
    events.ACCOUNT_CREATED,
    events.ACCOUNT_CLOSED,
    events.TRANSFER_POSTED,
    events.HOLD_PLACED,
    events.HOLD_CAPTURED,
    events.HOLD_VOIDED,
    events.HOLD_EXPIRED,
    events.TRANSACTION_REVERSED,
]


@pytest.fixture
def node():
    return NodeFactory(name="Seoul")


@pytest.fixture
def pair(node):
    """Two funded accounts of one node, and no event so far."""
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    fund(source, 10_000)
    Event.objects.all().delete()
    return source, destination


def test_it_records_account_created_and_closed_for_the_accounts_node(node):
    # when
    account = services.account_create(
        wallet=node.wallet, actor=SYSTEM, currency="KRW", name="Payroll"
    )
    services.account_close(account=account, actor=SYSTEM)

    # then
    created, closed = ledger_events()
    assert (created.type, created.node, created.object_type, created.object_id) == (
        "account.created",
        node,
        "account",
        str(account.pk),
    )
    assert created.data["status"] == "open" and created.data["name"] == "Payroll"
    assert created.data["node_id"] == str(node.pk)
    assert (closed.type, closed.node, closed.object_id) == ("account.closed", node, str(account.pk))
    account.refresh_from_db()
    assert closed.data == presenters.account_data(account)


def test_a_nodes_main_account_belongs_to_the_node_creation_and_records_no_event():
    NodeFactory()
    assert not ledger_events().exists()


def test_a_transfer_records_ledger_transfer_posted_with_the_apis_shape(node, pair):
    source, destination = pair

    result = services.transfer_create(
        tenant=source.tenant, request=transfer_request(source, destination, 2_500, memo="rent")
    )

    (event,) = ledger_events()
    txn = result.transaction
    assert (event.type, event.node, event.object_type, event.object_id) == (
        "ledger_transfer.posted",
        node,
        "ledgertransaction",
        str(txn.uuid),  # the id the API knows, not the row's number
    )
    assert event.data == presenters.transaction_data(txn, list(result.entries))
    assert event.data["memo"] == "rent"
    assert [e["direction"] for e in event.data["entries"]] == ["debit", "credit"]
    assert event.occurred_at >= txn.posted_at  # the node's time when the change was made


def test_an_inter_node_transfer_gives_each_node_one_event():
    tenant = TenantFactory()
    seoul, tokyo = (
        NodeFactory(tenant=tenant, name="Seoul"),
        NodeFactory(tenant=tenant, name="Tokyo"),
    )
    source, destination = AccountFactory(node=seoul), AccountFactory(node=tokyo)
    fund(source, 1_000)
    Event.objects.all().delete()

    result = services.transfer_create(
        tenant=tenant, request=transfer_request(source, destination, 400)
    )

    posted = list(ledger_events())
    assert [(e.node.name, e.type) for e in posted] == [
        ("Seoul", "ledger_transfer.posted"),
        ("Tokyo", "ledger_transfer.posted"),
    ]
    assert {e.object_id for e in posted} == {str(result.transaction.uuid)}
    assert posted[0].data == posted[1].data and posted[0].data["is_inter_node"] is True


def test_a_transfers_events_carry_each_nodes_clock_and_see_an_advance_at_once():
    # given: Seoul follows a test clock, Tokyo the platform clock
    tenant = TenantFactory()
    seoul, tokyo = (
        NodeFactory(tenant=tenant, name="Seoul"),
        NodeFactory(tenant=tenant, name="Tokyo"),
    )
    source, destination = AccountFactory(node=seoul), AccountFactory(node=tokyo)
    fund(source, 1_000)
    start = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    test_clock = clocks.test_clock_create(tenant=tenant, actor=SYSTEM, name="t", frozen_time=start)
    clocks.test_clock_attach(clock=test_clock, node=seoul, actor=SYSTEM)

    def transfer_events():
        Event.objects.all().delete()
        services.transfer_create(tenant=tenant, request=transfer_request(source, destination, 1))
        return {e.node.name: e.occurred_at for e in ledger_events()}

    # when / then: each node's event is at its node's time
    before = clock.now()
    first = transfer_events()
    assert first["Seoul"] == start
    assert before <= first["Tokyo"] <= clock.now()

    # when the test clock advances, the very next transfer is at the new time
    clocks.test_clock_advance(clock=test_clock, to=start + timedelta(days=3), actor=SYSTEM)
    assert clocks.test_clock_run_advance(clock_id=test_clock.pk)
    assert transfer_events()["Seoul"] == start + timedelta(days=3)


def test_a_transfers_events_are_one_insert_and_ask_nothing_about_their_nodes():
    tenant = TenantFactory()
    seoul, tokyo = NodeFactory(tenant=tenant), NodeFactory(tenant=tenant)
    source, destination = AccountFactory(node=seoul), AccountFactory(node=tokyo)
    fund(source, 1_000)

    with CaptureQueriesContext(connection) as queries:
        services.transfer_create(tenant=tenant, request=transfer_request(source, destination, 1))

    sqls = [q["sql"].replace('"', "") for q in queries.captured_queries]
    assert len([sql for sql in sqls if "INSERT INTO events_event" in sql]) == 1
    # The nodes and their clocks come with the locked accounts (one statement reads them).
    owners = re.compile(r"FROM (tenants_node|events_clockattachment|events_testclock)\b")
    assert [sql for sql in sqls if owners.search(sql)] == []
    assert Event.objects.filter(type="ledger_transfer.posted").count() == 2


def test_hold_placed_captured_voided_and_expired_each_record_their_event(node, pair):
    card, merchant = pair

    def place(amount=300):
        return services.hold_place(
            tenant=card.tenant, account=card, counterparty=merchant, amount=amount, currency="KRW"
        )

    captured = services.hold_capture(hold=place(), amount=200)
    voided = services.hold_void(hold=place())
    expiring = place()
    Hold.objects.filter(pk=expiring.pk).update(expires_at=clock.now() - timedelta(seconds=1))
    assert services.holds_expire_due() == 1  # the Celery beat sweep

    seen = [(e.type, e.object_id, e.node) for e in ledger_events()]
    assert seen == [
        ("hold.placed", str(captured.pk), node),
        ("hold.captured", str(captured.pk), node),
        ("hold.placed", str(voided.pk), node),
        ("hold.voided", str(voided.pk), node),
        ("hold.placed", str(expiring.pk), node),
        ("hold.expired", str(expiring.pk), node),
    ]
    capture_event = Event.objects.get(type="hold.captured")
    assert capture_event.data == presenters.hold_data(captured)
    assert capture_event.data["status"] == "captured"
    assert capture_event.data["captured_amount"] == {"amount": "200", "currency": "KRW"}
    assert capture_event.data["capture_transaction_id"] == str(captured.capture_transaction.uuid)
    assert Event.objects.get(type="hold.expired").data["status"] == "expired"
    assert Event.objects.filter(type="hold.placed").first().data["status"] == "pending"


def test_a_capture_to_another_nodes_account_tells_both_nodes():
    tenant = TenantFactory()
    seoul, tokyo = (
        NodeFactory(tenant=tenant, name="Seoul"),
        NodeFactory(tenant=tenant, name="Tokyo"),
    )
    card, merchant = AccountFactory(node=seoul), AccountFactory(node=tokyo)
    fund(card, 1_000)
    hold = services.hold_place(
        tenant=tenant, account=card, counterparty=merchant, amount=300, currency="KRW"
    )
    Event.objects.all().delete()

    services.hold_capture(hold=hold)

    assert [(e.node.name, e.type) for e in ledger_events()] == [
        ("Seoul", "hold.captured"),
        ("Tokyo", "hold.captured"),
    ]


def test_a_reversal_records_transaction_reversed_for_the_reversal(node, pair):
    source, destination = pair
    original = services.transfer_create(
        tenant=source.tenant, request=transfer_request(source, destination, 700)
    ).transaction
    Event.objects.all().delete()

    reversal = services.transaction_reverse(
        transaction_=original, tenant=source.tenant, actor=SYSTEM
    ).transaction

    (event,) = ledger_events()
    assert (event.type, event.node, event.object_id) == (
        "transaction.reversed",
        node,
        str(reversal.uuid),
    )
    assert event.data["reverses"] == str(original.uuid)
    assert event.data["kind"] == "reversal"
    assert [e["direction"] for e in event.data["entries"]] == ["credit", "debit"]


def test_refused_changes_record_nothing(node, pair):
    source, destination = pair
    with pytest.raises(ApplicationError, match="Insufficient funds"):
        services.transfer_create(
            tenant=source.tenant, request=transfer_request(source, destination, 99_999)
        )
    with pytest.raises(PostingRefused):
        services.transfer_bulk_create(
            tenant=source.tenant,
            requests=[
                transfer_request(source, destination, 100),
                transfer_request(source, destination, 99_999),
            ],
            mode="atomic",
        )
    hold = services.hold_place(
        tenant=source.tenant, account=source, counterparty=destination, amount=100, currency="KRW"
    )
    services.hold_void(hold=hold)
    Event.objects.all().delete()
    with pytest.raises(ApplicationError, match="already voided"):
        services.hold_capture(hold=hold)
    with pytest.raises(ApplicationError):
        services.account_close(account=source, actor=SYSTEM)  # not empty

    assert not Event.objects.exists()


def test_a_refused_api_request_records_nothing(alice):
    # given: an account of alice's node with nothing on it
    node = NodeFactory(tenant=alice.tenant)
    source, destination = AccountFactory(node=node), AccountFactory(node=node)
    Event.objects.all().delete()

    # when
    response = alice.api.post(
        "/api/v1/transfers",
        {
            "source_account_id": str(source.pk),
            "destination_account_id": str(destination.pk),
            "amount": "100",
            "currency": "KRW",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="refused-1",
    )

    # then
    assert response.status_code == 422, response.content
    assert not Event.objects.exists()


def test_a_bulk_records_one_event_per_posted_transfer_with_a_bounded_number_of_queries():
    # given: two nodes, transfers inside one node and across both
    tenant = TenantFactory()
    seoul, tokyo = (
        NodeFactory(tenant=tenant, name="Seoul"),
        NodeFactory(tenant=tenant, name="Tokyo"),
    )
    a, b, c = AccountFactory(node=seoul), AccountFactory(node=seoul), AccountFactory(node=tokyo)
    fund(a, 1_000_000)
    Event.objects.all().delete()

    def bulk(size: int):
        requests = [
            transfer_request(a, c if i % 2 else b, 10 + i, memo=f"item {i}") for i in range(size)
        ]
        requests.append(transfer_request(b, a, 10**12))  # refused: independent mode goes on
        with CaptureQueriesContext(connection) as queries:
            results = services.transfer_bulk_create(
                tenant=tenant, requests=requests, mode="independent"
            )
        return results, queries

    # when
    _, small_queries = bulk(10)
    Event.objects.all().delete()
    large, large_queries = bulk(600)

    # then: one event per posted item (two for those across nodes), none for the refused one
    assert [r.ok for r in large] == [True] * 600 + [False]
    posted = Event.objects.filter(type="ledger_transfer.posted")
    assert posted.filter(node=seoul).count() == 600
    assert posted.filter(node=tokyo).count() == 300
    by_id = {e.object_id: e for e in posted.filter(node=seoul)}
    for index in (0, 1, 599):
        txn = large[index].transaction
        assert by_id[str(txn.uuid)].data == presenters.transaction_data(
            txn, list(large[index].entries)
        )
        assert by_id[str(txn.uuid)].data["memo"] == f"item {index}"

    # and the events cost a bounded number of statements, not one per transfer
    def event_inserts(queries):
        sqls = (q["sql"].replace('"', "") for q in queries.captured_queries)
        return [sql for sql in sqls if "INSERT INTO events_event" in sql]

    assert len(event_inserts(small_queries)) == 1
    per_insert = 1 if connection.vendor == "postgresql" else 12  # SQLite caps bound parameters
    assert len(event_inserts(large_queries)) <= per_insert
    assert len(large_queries) <= len(small_queries) + 2 * per_insert


def test_a_bulks_events_are_what_the_presenter_makes_of_each_transfer_in_order():
    # given: USD accounts (two decimals) in a node on a test clock and in a node on the
    # platform clock, and awkward memos and metadata
    tenant = TenantFactory()
    start = datetime(2030, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)
    frozen, live = NodeFactory(tenant=tenant, name="A"), NodeFactory(tenant=tenant, name="B")
    test_clock = clocks.test_clock_create(tenant=tenant, actor=SYSTEM, name="t", frozen_time=start)
    clocks.test_clock_attach(clock=test_clock, node=frozen, actor=SYSTEM)
    a, b = (AccountFactory(node=frozen, currency="USD") for _ in range(2))
    c = AccountFactory(node=live, currency="USD")
    fund(a, 10_000_000)
    Event.objects.all().delete()
    memos = ['say "hi"', "back\\slash, {braces}", "", "NULL", "\u00e9t\u00e9 \u2014 ok"]
    metadata = [{"order": 'x"1'}, None, {"n": [1, 2.5, None]}, {"nested": {"k": "\\"}}, None]
    requests = [
        transfer_request(a, b if i % 2 else c, 1 + 99_999 * i, memo=memos[i], metadata=metadata[i])
        for i in range(5)
    ]

    # when
    results = services.transfer_bulk_create(tenant=tenant, requests=requests, mode="atomic")

    # then: in the order recorded, each transfer's events, the source's node first; a
    # transfer inside one node has one event
    recorded = list(Event.objects.filter(type=events.TRANSFER_POSTED).order_by("created_at"))
    expected = []
    for result, request in zip(results, requests, strict=True):
        nodes = [frozen] if request.destination == b else [frozen, live]
        expected += [(str(result.transaction.uuid), node.pk) for node in nodes]
    assert [(e.object_id, e.node_id) for e in recorded] == expected
    # the data is what the API shows of the transaction, read back from the database
    for event in recorded:
        txn = LedgerTransaction.objects.get(uuid=event.object_id)
        entries = list(txn.entries.order_by("amount"))  # the debit first
        assert event.data == presenters.transaction_data(txn, entries)
        assert (event.tenant_id, event.object_type) == (tenant.pk, "ledgertransaction")
    assert recorded[2].data["amount"] == {"amount": "1000.00", "currency": "USD"}
    assert recorded[2].data["entries"][0]["amount"] == "-1000.00"
    # each node's time: the test clock's, or the platform's
    assert {e.occurred_at for e in recorded if e.node_id == frozen.pk} == {start}
    assert all(e.occurred_at != start for e in recorded if e.node_id == live.pk)


@pytest.fixture
def hooked_node(settings, celery_eager, receiver):
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = True
    settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS = 3
    node = NodeFactory(webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=node).secret]
    return node


def test_ledger_events_reach_the_nodes_webhook_through_the_outbox(hooked_node, receiver):
    # given
    source, destination = AccountFactory(node=hooked_node), AccountFactory(node=hooked_node)
    fund(source, 5_000)

    # when
    result = services.transfer_create(
        tenant=source.tenant, request=transfer_request(source, destination, 1_250)
    )
    pump()

    # then: both accounts' openings and the transfer arrive, signed
    assert all(r.verified for r in receiver.requests)
    seen = [(r.json["type"], r.json["object_id"]) for r in receiver.requests]
    assert sorted(seen) == sorted(
        [
            ("account.created", str(source.pk)),
            ("account.created", str(destination.pk)),
            ("ledger_transfer.posted", str(result.transaction.uuid)),
        ]
    )
    body = next(r.json for r in receiver.requests if r.json["type"] == "ledger_transfer.posted")
    assert body["node"] == str(hooked_node.pk)
    assert body["data"]["amount"] == {"amount": "1250", "currency": "KRW"}


def test_bulk_events_reach_the_webhook_too(hooked_node, receiver):
    source, destination = AccountFactory(node=hooked_node), AccountFactory(node=hooked_node)
    fund(source, 5_000)
    Event.objects.all().delete()
    receiver.requests.clear()

    results = services.transfer_bulk_create(
        tenant=source.tenant,
        requests=[transfer_request(source, destination, 100) for _ in range(3)],
        mode="atomic",
    )
    pump()

    assert sorted(r.json["object_id"] for r in receiver.requests) == sorted(
        str(r.transaction_uuid) for r in results
    )
    assert {r.json["type"] for r in receiver.requests} == {"ledger_transfer.posted"}


def test_the_api_lists_ledger_events(alice):
    node = NodeFactory(tenant=alice.tenant)
    account = AccountFactory(node=node)

    response = alice.api.get("/api/v1/events?type=account.*")

    assert response.status_code == 200
    (listed,) = response.json()["results"]
    assert (listed["type"], listed["object_id"]) == ("account.created", str(account.pk))
