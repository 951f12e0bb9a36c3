"""Settlement windows: OPEN → CLOSED → SETTLED, positions from the anchored days, entries
through the ledger, never twice, none skipped; net debit caps."""

from __future__ import annotations

import csv
import io
import threading
import time as time_module
import uuid
from datetime import datetime, time, timedelta
from unittest.mock import ANY

import pytest
from django.db import close_old_connections, connection, transaction
from rest_framework.test import APIClient

from clearing import caps, closing, jobs, settlement
from clearing.models import (
    Job,
    NetDebitCap,
    SettlementContract,
    SettlementInstruction,
    SettlementPosition,
    SettlementWindow,
)
from sandbox.errors import ApplicationError
from sandbox.tenants.services import SYSTEM
from tests.clearing.conftest import DAY, KST
from tests.factories import AccountFactory, NodeFactory, api_key_for, fund
from tests.helpers import run_in_threads
from wallets.locking import retrying
from wallets.models import LedgerTransaction
from wallets.posting import Leg, Posting, post_one
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db


class Network:
    def __init__(self, ledger):
        self.ledger = ledger
        self.jeju = NodeFactory(tenant=ledger.tenant, name="Jeju")
        self.c = self.jeju.wallet.accounts.get()
        self.accounts = {"A": ledger.a, "B": ledger.b, "C": self.c}
        self.nodes = {"A": ledger.seoul, "B": ledger.busan, "C": self.jeju}
        self.moment = None

    def at(self, moment):
        self.moment = moment
        self.ledger.at(moment)

    def fund_all(self, day):
        self.at(datetime.combine(day, time(8), tzinfo=KST))
        for account in self.accounts.values():
            fund(account, 1_000_000)

    def pay(self, payer: str, payee: str, amount: int) -> LedgerTransaction:
        self.moment += timedelta(minutes=1)
        self.ledger.at(self.moment)
        source, destination = self.accounts[payer], self.accounts[payee]
        posting = Posting(
            kind="transfer",
            legs=[Leg(source.pk, -amount, "KRW"), Leg(destination.pk, amount, "KRW")],
            tenant_id=source.tenant_id,
            is_inter_node=True,
        )
        return retrying(post_one)(posting).transaction

    def next_morning(self, day):
        self.at(datetime.combine(day + timedelta(days=1), time(1), tzinfo=KST))


@pytest.fixture
def network(ledger):
    return Network(ledger)


@pytest.fixture
def settled_day(network):
    network.fund_all(DAY)
    for payer, payee, amount in [("A", "B", 100), ("B", "C", 30), ("C", "A", 50), ("A", "C", 20)]:
        network.pay(payer, payee, amount)
    network.next_morning(DAY)
    closing.close_day(day=DAY, triggered_by="test")
    return network


def positions(window) -> dict:
    return {
        (p.node.name, p.currency): (p.gross_paid, p.gross_received, p.net)
        for p in SettlementPosition.objects.filter(window=window).select_related("node")
    }


def test_a_closed_day_settles_its_window_through_the_ledger(settled_day):
    window = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
    assert window.status == "closed"  # closed with the day
    assert settlement.settle_due()["settled"] == 1
    window.refresh_from_db()
    assert window.status == "settled" and window.transactions == 4
    assert positions(window) == {
        ("Seoul", "KRW"): (120, 50, -70),
        ("Busan", "KRW"): (30, 100, 70),
        ("Jeju", "KRW"): (50, 50, 0),
    }
    instructions = {
        (i.node.name, i.direction, i.amount, i.bank_code)
        for i in SettlementInstruction.objects.filter(window=window).select_related("node")
    }
    assert instructions == {("Seoul", "pay", 70, "004"), ("Busan", "receive", 70, "004")}
    for instruction in SettlementInstruction.objects.filter(window=window):
        legs = sorted(instruction.transaction.entries.values_list("amount", flat=True))
        assert legs == [-70, 70] and instruction.transaction.kind == "settlement"
    assert verify_ledger().ok


def test_settling_twice_settles_once(settled_day):
    settlement.settle_due()
    settlement.settle_due()
    assert LedgerTransaction.objects.filter(kind="settlement").count() == 2
    window = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
    assert settlement.settle_window(window.pk) == "skipped"


def test_windows_follow_each_nodes_cycle(network):
    SettlementContract.objects.create(node=network.jeju, cycle="t_plus_1")
    network.fund_all(DAY)
    network.pay("A", "C", 40)
    network.next_morning(DAY)
    closing.close_day(day=DAY, triggered_by="test")
    settlement.settle_due()
    daily = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
    t1 = SettlementWindow.objects.get(cycle="t_plus_1", start_day=DAY)
    assert daily.status == "settled" and t1.status == "closed"
    assert positions(daily) == {("Seoul", "KRW"): (40, 0, -40)}
    # The next day closes: now the T+1 window's day has come.
    network.next_morning(DAY + timedelta(days=1))
    closing.close_day(day=DAY + timedelta(days=1), triggered_by="test")
    settlement.settle_due()
    t1.refresh_from_db()
    assert t1.status == "settled" and positions(t1) == {("Jeju", "KRW"): (0, 40, 40)}


def test_weekly_windows_span_monday_to_sunday():
    monday, sunday = settlement.window_bounds("weekly", DAY)[:2]
    assert monday.weekday() == 0 and sunday - monday == timedelta(days=6)
    assert settlement.window_bounds("weekly", DAY)[2] == sunday + timedelta(days=1)
    assert settlement.window_bounds("t_plus_1", DAY) == (DAY, DAY, DAY + timedelta(days=2))


def test_a_window_whose_day_no_longer_matches_its_anchor_does_not_settle(settled_day):
    txn = LedgerTransaction.objects.filter(is_inter_node=True).first()
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                "UPDATE wallets_entry SET amount = amount * 2 WHERE transaction_id = %s", [txn.pk]
            )
        job = jobs.job_create(kind=Job.Kind.SETTLEMENT, label="due", triggered_by="test")
        counts = settlement.settle_due(job=job)
        window = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
        assert counts["settled"] == 0 and window.status == "closed"
        job.refresh_from_db()
        assert job.status == "failed" and "no longer matches its anchor" in job.error
        transaction.set_rollback(True)


def test_operators_abort_a_window_and_later_ones_still_wait_their_turn(settled_day):
    window = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
    settlement.window_abort(window=window, reason="dispute", actor=SYSTEM)
    window.refresh_from_db()
    assert window.status == "aborted" and window.note == "dispute"
    with pytest.raises(ApplicationError):
        settlement.window_abort(window=window, reason="again", actor=SYSTEM)
    assert settlement.settle_window(window.pk) == "skipped"


def test_the_report_shows_positions_instructions_and_bilateral_nets(settled_day, operator_api):
    settlement.settle_due()
    window = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
    body = operator_api.get(f"/api/v1/clearing/settlements/{window.pk}").json()
    assert body["status"] == "settled"
    assert sorted(b["amount"] for b in body["bilateral"]) == ["100", "30", "30"]
    assert {(p["node_name"], p["net"]) for p in body["positions"]} == {
        ("Seoul", "-70"),
        ("Busan", "70"),
        ("Jeju", "0"),
    }
    report = operator_api.get(f"/api/v1/clearing/settlements/{window.pk}/report.csv")
    rows = list(csv.DictReader(io.StringIO(report.content.decode())))
    assert {r["section"] for r in rows} == {"position", "instruction", "bilateral"}
    tenant = APIClient()
    tenant.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(settled_day.ledger.tenant)}")
    assert tenant.get(f"/api/v1/clearing/settlements/{window.pk}").status_code == 200


def test_bilateral_nets_are_pairwise(settled_day):
    settlement.settle_due()
    window = SettlementWindow.objects.get(cycle="daily", start_day=DAY)
    result = settlement.compute_window(window)
    names = {str(n.pk): n.name for n in settled_day.nodes.values()}
    bilateral = {
        (names[a], names[b]): amount for (a, b, _c), amount in result.positions.bilateral.items()
    }
    # Seoul→Busan 100; Busan→Jeju 30; Jeju→Seoul 50 against Seoul→Jeju 20.
    assert bilateral == {("Seoul", "Busan"): 100, ("Busan", "Jeju"): 30, ("Jeju", "Seoul"): 30}


# --- Net debit caps --------------------------------------------------------------------------


def test_a_transfer_beyond_the_net_debit_cap_is_refused(network):
    NetDebitCap.objects.create(node=network.nodes["A"], currency="KRW", amount=150)
    network.fund_all(DAY)
    network.pay("A", "B", 100)
    posting = Posting(
        kind="transfer",
        legs=[Leg(network.accounts["A"].pk, -60, "KRW"), Leg(network.accounts["B"].pk, 60, "KRW")],
        is_inter_node=True,
    )
    with transaction.atomic(), pytest.raises(ApplicationError) as refused:
        caps.check_posting(posting)
    assert refused.value.code == "net_debit_cap_exceeded"
    assert caps.unsettled_position(network.nodes["A"].pk, "KRW") == -100
    # Receiving first makes room: 100 paid, 50 received, 60 more is 110 < 150.
    network.pay("B", "A", 50)
    with transaction.atomic():
        caps.check_posting(posting)
    # Once the day settles, its position no longer counts.
    network.next_morning(DAY)
    closing.close_day(day=DAY, triggered_by="test")
    settlement.settle_due()
    assert caps.unsettled_position(network.nodes["A"].pk, "KRW") == 0


def transfer_body(source, destination, amount: str) -> dict:
    return {
        "source_account_id": str(source.pk),
        "destination_account_id": str(destination.pk),
        "amount": amount,
        "currency": "KRW",
    }


def test_the_api_refuses_a_transfer_beyond_the_net_debit_cap_and_writes_nothing(network):
    # given: Seoul (A) may owe at most 150 and already paid Busan (B) 100
    NetDebitCap.objects.create(node=network.nodes["A"], currency="KRW", amount=150)
    network.fund_all(DAY)
    network.pay("A", "B", 100)
    a, b = network.accounts["A"], network.accounts["B"]
    seoul_savings = AccountFactory(node=network.nodes["A"], name="Savings")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(network.ledger.tenant)}")
    before = LedgerTransaction.objects.count()

    def send(source, destination, amount):
        return api.post(
            "/api/v1/transfers",
            transfer_body(source, destination, amount),
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )

    # when: 60 more would make 160
    refused = send(a, b, "60")
    # then
    assert refused.status_code == 422, refused.content
    assert refused.json()["error"]["code"] == "net_debit_cap_exceeded"
    assert LedgerTransaction.objects.count() == before
    a.refresh_from_db()
    assert a.posted_balance == 1_000_000 - 100
    # 50 reaches the cap exactly; a transfer inside the node is not inter-node and not capped
    assert send(a, b, "50").status_code == 201
    assert send(a, seoul_savings, "1000").status_code == 201
    assert send(a, b, "1").json()["error"]["code"] == "net_debit_cap_exceeded"
    assert caps.unsettled_position(network.nodes["A"].pk, "KRW") == -150
    assert verify_ledger().ok


def test_bulk_inter_node_transfers_count_against_the_cap_one_after_another(network):
    NetDebitCap.objects.create(node=network.nodes["A"], currency="KRW", amount=150)
    network.fund_all(DAY)
    a, b, c = (network.accounts[k] for k in "ABC")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(network.ledger.tenant)}")
    items = [transfer_body(a, b, "60"), transfer_body(c, b, "500"), transfer_body(a, c, "60")]
    items.append(transfer_body(a, b, "60"))

    def bulk(mode):
        return api.post(
            "/api/v1/transfers/bulk",
            {"mode": mode, "transfers": items},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )

    atomic = bulk("atomic")
    assert atomic.status_code == 422
    assert atomic.json()["error"]["fields"]["items"] == {
        "3": {"code": "net_debit_cap_exceeded", "message": ANY}
    }
    assert not LedgerTransaction.objects.filter(kind="transfer").exists()
    independent = bulk("independent").json()
    assert [r["status"] for r in independent["results"]] == ["posted"] * 3 + ["failed"]
    assert caps.unsettled_position(network.nodes["A"].pk, "KRW") == -120


# --- Concurrency --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_parallel_inter_node_transfers_cannot_both_fit_under_the_cap(ledger, monkeypatch):
    # given: Seoul may owe 150; two of its accounts each pay 100 to a different node, so
    # no account lock is shared and only the cap lock can keep them apart
    network = Network(ledger)
    NetDebitCap.objects.create(node=network.nodes["A"], currency="KRW", amount=150)
    network.fund_all(DAY)
    network.moment += timedelta(minutes=1)
    network.ledger.at(network.moment)
    second = AccountFactory(node=network.nodes["A"], name="Second")
    fund(second, 1_000)
    payers = [(network.accounts["A"], network.accounts["B"]), (second, network.accounts["C"])]
    # Each check dawdles after reading the position: without the cap lock both would
    # read 0 and both pass.
    read_position = caps.unsettled_position

    def slow_position(node_id, currency):
        value = read_position(node_id, currency)
        time_module.sleep(0.3)
        return value

    monkeypatch.setattr(caps, "unsettled_position", slow_position)
    barrier = threading.Barrier(2)
    outcomes: list = []

    def pay(source, destination) -> None:
        try:
            barrier.wait()
            posting = Posting(
                kind="transfer",
                legs=[Leg(source.pk, -100, "KRW"), Leg(destination.pk, 100, "KRW")],
                tenant_id=source.tenant_id,
                is_inter_node=True,
            )
            retrying(post_one)(posting)
            outcomes.append("posted")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        except Exception as exc:
            outcomes.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=pay, args=pair) for pair in payers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then: exactly one fits
    assert sorted(outcomes, key=str) == ["net_debit_cap_exceeded", "posted"], outcomes
    assert LedgerTransaction.objects.filter(kind="transfer", is_inter_node=True).count() == 1
    assert read_position(network.nodes["A"].pk, "KRW") == -100
    assert verify_ledger().ok


# --- Concurrency --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_settlement_triggers_settle_each_window_once(ledger):
    network = Network(ledger)
    network.fund_all(DAY)
    for payer, payee, amount in [("A", "B", 100), ("B", "C", 30), ("C", "A", 50)]:
        network.pay(payer, payee, amount)
    network.next_morning(DAY)
    closing.close_day(day=DAY, triggered_by="test")
    results = run_in_threads(lambda _i: settlement.settle_due()["settled"], 4)
    assert sorted(results) == [0, 0, 0, 1], results
    assert SettlementWindow.objects.filter(status="settled").count() == 1
    # Seoul -50, Busan +70, Jeju -20: three settlement transactions, once.
    assert LedgerTransaction.objects.filter(kind="settlement").count() == 3
    assert SettlementPosition.objects.count() == 3
