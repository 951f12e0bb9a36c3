"""Hypothesis drives random sequences of escrow actions (create, release in full or in part,
refund, dispute, evidence, decisions, and test clock advances that fire timeouts and
dispute deadlines) against a small model. After every step: money is conserved, nothing
is paid twice, every escrow is bound to its hold, and ``verify_ledger`` holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from sandbox.errors import ApplicationError
from sandbox.events import clocks
from sandbox.events.models import ScheduledAction
from sandbox.tenants.services import SYSTEM
from tests.escrow.conftest import START
from tests.factories import NodeFactory, TenantFactory, fund
from wallets import services as ledger
from wallets.escrow import disputes, escrows
from wallets.escrow.models import Escrow, EscrowDispute, EscrowMovement
from wallets.models import Account, Hold
from wallets.verification import verify_ledger

FUNDS = 1_000_000
HOUR = 3600


@dataclass
class Expected:
    """What the model believes of one escrow."""

    amount: int
    on_timeout: str
    timeout_at: object
    window_ends_at: object
    bps: int
    fixed: int
    released: int = 0
    refunded: int = 0
    fees: int = 0
    status: str = "held"
    dispute: str = ""  # its status, "" when none
    due_by: object = None

    @property
    def remaining(self) -> int:
        return self.amount - self.released - self.refunded

    @property
    def open(self) -> bool:
        return self.status in ("held", "partially_released", "disputed")

    def release(self, amount: int) -> None:
        fee = amount * self.bps // 10_000 + (self.fixed if self.released == 0 else 0)
        self.fees += min(fee, amount)
        self.released += amount
        self.status = "released" if self.remaining == 0 else "partially_released"

    def refund(self) -> None:
        self.refunded += self.remaining
        self.status = "refunded"


class EscrowMachine(RuleBasedStateMachine):
    escrows = Bundle("escrows")

    @initialize()
    def open_books(self):
        tenant = TenantFactory()
        self.buyer, self.shop = NodeFactory(tenant=tenant), NodeFactory(tenant=tenant)
        self.payer = self.buyer.wallet.accounts.get()
        self.payee = self.shop.wallet.accounts.get()
        fund(self.payer, FUNDS)
        self.clock = clocks.test_clock_create(
            tenant=tenant, actor=SYSTEM, name="property", frozen_time=START
        )
        for node in (self.buyer, self.shop):
            clocks.test_clock_attach(clock=self.clock, node=node, actor=SYSTEM)
        # The bank network's daily statements are not this test's business, and closing
        # every day of a 15-day jump cost four fifths of its time.
        ScheduledAction.objects.filter(
            node__in=(self.buyer, self.shop), kind__startswith="banknet.end_of_day"
        ).update(status=ScheduledAction.Status.CANCELLED)
        self.tenant = tenant
        self.now = START
        self.fees_before = self.fees_account().posted_balance
        self.model: dict[object, Expected] = {}

    def fees_account(self) -> Account:
        return ledger.platform_account(purpose=Account.Purpose.FEES, currency="KRW")

    def held_now(self) -> int:
        return sum(e.remaining for e in self.model.values() if e.open)

    @rule(
        target=escrows,
        amount=st.integers(1, 20_000),
        condition=st.sampled_from(["manual", "deadline"]),
        timeout_hours=st.integers(1, 14 * 24),
        window=st.sampled_from([0, 0.5, 1]),
        bps=st.sampled_from([0, 100, 10_000]),
        fixed=st.sampled_from([0, 50, 300]),
    )
    def create(self, amount, condition, timeout_hours, window, bps, fixed):
        timeout = timeout_hours * HOUR
        expected_ok = fixed <= amount and FUNDS - self.released_total() - self.held_now() >= amount
        try:
            escrow = escrows.escrow_create(
                tenant=self.tenant,
                actor=SYSTEM,
                payer_account=self.payer,
                payee_account=self.payee,
                amount=amount,
                currency="KRW",
                release_condition=condition,
                timeout_seconds=timeout,
                dispute_window_seconds=int(timeout * window),
                fee_rate_bps=bps,
                fixed_fee=fixed,
            )
        except ApplicationError as error:
            assert not expected_ok, error.code
            assert error.code in ("invalid_fixed_fee", "insufficient_funds")
            return multiple()  # nothing for the other rules to act on
        assert expected_ok
        self.model[escrow.pk] = Expected(
            amount=amount,
            on_timeout="release" if condition == "deadline" else "refund",
            timeout_at=self.now + timedelta(seconds=timeout),
            window_ends_at=self.now + timedelta(seconds=int(timeout * window)),
            bps=bps,
            fixed=fixed,
        )
        return escrow.pk

    def released_total(self) -> int:
        return sum(e.released for e in self.model.values())

    def can_act(self, expected: Expected) -> bool:
        return expected.status in ("held", "partially_released") and self.now < expected.timeout_at

    @rule(escrow_id=escrows, percent=st.one_of(st.none(), st.integers(1, 120)))
    def release(self, escrow_id, percent):
        """All that remains (None), or a part of it: up to 120%, which is too much."""
        expected = self.model[escrow_id]
        escrow = Escrow.objects.get(pk=escrow_id)
        part = None if percent is None else max(1, expected.remaining * percent // 100)
        amount = expected.remaining if part is None else part
        ok = self.can_act(expected) and 0 < amount <= expected.remaining
        try:
            escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=part)
        except ApplicationError as error:
            assert not ok, error.code
            assert error.code in (
                "escrow_released",
                "escrow_refunded",
                "escrow_disputed",
                "escrow_timed_out",
                "amount_exceeds_remaining",
            )
            return
        assert ok
        expected.release(amount)

    @rule(escrow_id=escrows, percent=st.integers(1, 99))
    def release_part(self, escrow_id, percent):
        """A part of what remains: the hold is captured and a new one placed."""
        self.release(escrow_id, percent)

    @rule(escrow_id=escrows)
    def refund(self, escrow_id):
        expected = self.model[escrow_id]
        ok = self.can_act(expected)
        try:
            escrows.escrow_refund(escrow=Escrow.objects.get(pk=escrow_id), actor=SYSTEM)
        except ApplicationError as error:
            assert not ok, error.code
            return
        assert ok
        expected.refund()

    @rule(escrow_id=escrows)
    def dispute(self, escrow_id):
        expected = self.model[escrow_id]
        ok = (
            expected.status in ("held", "partially_released")
            and not expected.dispute
            and self.now < expected.window_ends_at
        )
        try:
            escrow = Escrow.objects.get(pk=escrow_id)
            disputes.dispute_open(escrow=escrow, actor=SYSTEM, reason="property")
        except ApplicationError as error:
            assert not ok, error.code
            return
        assert ok
        expected.status, expected.dispute = "disputed", "opened"
        expected.due_by = self.now + disputes.DECISION_PERIOD

    @rule(escrow_id=escrows)
    def evidence(self, escrow_id):
        dispute = EscrowDispute.objects.filter(escrow_id=escrow_id).first()
        if dispute is None:
            return
        expected = self.model[escrow_id]
        try:
            disputes.dispute_submit_evidence(dispute=dispute, actor=SYSTEM, evidence="proof")
        except ApplicationError as error:
            assert expected.dispute != "opened", error.code
            return
        assert expected.dispute == "opened"
        expected.dispute = "evidence_submitted"

    @rule(escrow_id=escrows, outcome=st.sampled_from(["won", "lost"]))
    def decide(self, escrow_id, outcome):
        dispute = EscrowDispute.objects.filter(escrow_id=escrow_id).first()
        if dispute is None:
            return
        expected = self.model[escrow_id]
        try:
            disputes.dispute_decide(dispute=dispute, outcome=outcome, actor=SYSTEM, decided_by="t")
        except ApplicationError as error:
            assert expected.dispute in ("won", "lost"), error.code
            return
        assert expected.dispute in ("opened", "evidence_submitted")
        self._decided(expected, outcome)

    def _decided(self, expected: Expected, outcome: str) -> None:
        expected.dispute = outcome
        if outcome == "won":
            expected.refund()
        else:
            expected.release(expected.remaining)

    @rule(hours=st.one_of(st.integers(1, 30), st.just(24 * 15)))
    def advance(self, hours):
        """Mostly hours (escrows live a while), sometimes 15 days (past every timeout and
        every dispute's deadline)."""
        self.now += timedelta(hours=hours)
        clocks.test_clock_advance(clock=self.clock, to=self.now, actor=SYSTEM)
        assert clocks.test_clock_run_advance(clock_id=self.clock.pk)
        self.clock.refresh_from_db()
        for expected in self.model.values():
            if expected.status in ("held", "partially_released") and (
                expected.timeout_at <= self.now
            ):
                if expected.on_timeout == "release":
                    expected.release(expected.remaining)
                else:
                    expected.refund()
            elif expected.status == "disputed" and expected.due_by <= self.now:
                self._decided(expected, "won" if expected.dispute == "opened" else "lost")

    @invariant()
    def books_agree_with_the_model(self):
        if not hasattr(self, "model"):
            return
        released = self.released_total()
        fees = sum(e.fees for e in self.model.values())
        self.payer.refresh_from_db()
        self.payee.refresh_from_db()
        # Conserved: what left the payer is exactly what the payee and the fee account got.
        assert (self.payer.posted_balance, self.payer.held_balance) == (
            FUNDS - released,
            self.held_now(),
        )
        assert (self.payee.posted_balance, self.payee.held_balance) == (released - fees, 0)
        assert self.fees_account().posted_balance - self.fees_before == fees
        for escrow_id, expected in self.model.items():
            escrow = Escrow.objects.get(pk=escrow_id)
            assert (escrow.status, escrow.released_amount, escrow.refunded_amount) == (
                expected.status,
                expected.released,
                expected.refunded,
            )
            assert escrow.fee_amount == expected.fees
            # Nothing paid twice: each movement once, and they add up to what moved.
            movements = EscrowMovement.objects.filter(escrow=escrow)
            assert sum(m.amount for m in movements) == expected.released + expected.refunded
            assert escrows.escrow_verify(escrow) == []
        pending = Hold.objects.filter(account=self.payer, status="pending").count()
        assert pending == sum(1 for e in self.model.values() if e.open)
        report = verify_ledger()
        assert report.ok, report.problems


@pytest.mark.django_db
def test_random_escrow_sequences_conserve_money_and_pay_nothing_twice():
    run_state_machine_as_test(
        EscrowMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
