"""Real concurrency on PostgreSQL: threads with their own connections settle one escrow
at once. Each settlement happens exactly once, the losers get their 409/422 and move no
money, and the books stay right."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox import clock
from sandbox.errors import ApplicationError
from sandbox.events import scheduling
from sandbox.events.models import ScheduledAction
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory, TenantFactory, fund
from tests.helpers import run_in_threads
from wallets.escrow import disputes, escrows
from wallets.escrow.models import Escrow, EscrowMovement
from wallets.models import Hold
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


@pytest.fixture
def escrow():
    tenant = TenantFactory()
    payer = NodeFactory(tenant=tenant).wallet.accounts.get()
    payee = NodeFactory(tenant=tenant).wallet.accounts.get()
    fund(payer, 50_000)
    return escrows.escrow_create(
        tenant=tenant,
        actor=SYSTEM,
        payer_account=payer,
        payee_account=payee,
        amount=10_000,
        currency="KRW",
        release_condition="manual",
        timeout_seconds=3600,
        dispute_window_seconds=3600,
        fee_rate_bps=100,
        fixed_fee=10,
    )


def outcomes(results) -> tuple[list, list[str]]:
    won = [r for r in results if not isinstance(r, BaseException)]
    codes = sorted(r.code for r in results if isinstance(r, ApplicationError))
    assert len(won) + len(codes) == len(results), results  # nothing but refusals failed
    return won, codes


def assert_books(escrow: Escrow) -> None:
    escrow.refresh_from_db()
    moved = sum(m.amount for m in EscrowMovement.objects.filter(escrow=escrow))
    assert moved == escrow.released_amount + escrow.refunded_amount
    assert escrows.escrow_verify(escrow) == []
    assert Hold.objects.filter(metadata__escrow_id=str(escrow.pk), status="pending").count() == (
        1 if escrow.is_open else 0
    )
    report = verify_ledger()
    assert report.ok, report.problems


def test_concurrent_full_releases_pay_once(escrow):
    results = run_in_threads(lambda i: escrows.escrow_release(escrow=escrow, actor=SYSTEM), THREADS)

    won, codes = outcomes(results)
    assert len(won) == 1
    assert codes == ["escrow_released"] * (THREADS - 1)
    assert_books(escrow)
    assert escrow.released_amount == 10_000
    assert EscrowMovement.objects.filter(escrow=escrow).count() == 1


def test_concurrent_partial_releases_never_release_more_than_the_amount(escrow):
    results = run_in_threads(
        lambda i: escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=3_000), THREADS
    )

    won, codes = outcomes(results)
    assert len(won) == 3
    assert codes == ["amount_exceeds_remaining"] * (THREADS - 3)
    assert_books(escrow)
    assert (escrow.released_amount, escrow.remaining_amount) == (9_000, 1_000)


def test_releases_refunds_and_disputes_at_once_settle_exactly_once(escrow):
    def act(i: int):
        if i % 3 == 0:
            return escrows.escrow_release(escrow=escrow, actor=SYSTEM)
        if i % 3 == 1:
            return escrows.escrow_refund(escrow=escrow, actor=SYSTEM)
        return disputes.dispute_open(escrow=escrow, actor=SYSTEM, reason=f"thread {i}")

    won, codes = outcomes(run_in_threads(act, THREADS))

    assert len(won) == 1
    assert set(codes) <= {
        "escrow_released",
        "escrow_refunded",
        "escrow_disputed",
        "escrow_closed",
        "dispute_exists",
    }
    assert_books(escrow)
    assert escrow.released_amount + escrow.refunded_amount in (0, 10_000)


def test_concurrent_timeouts_and_the_scheduled_action_settle_once(escrow):
    past = clock.now() - timedelta(seconds=1)
    Escrow.objects.filter(pk=escrow.pk).update(timeout_at=past)
    ScheduledAction.objects.filter(kind=escrows.TIMEOUT).update(due_at=past)
    action = ScheduledAction.objects.get(kind=escrows.TIMEOUT)

    def act(i: int):
        if i == 0:
            return scheduling.action_run(action_id=action.pk)
        if i % 2:
            return escrows.escrow_timeout(escrow_id=escrow.pk)
        return escrows.escrow_refund(escrow=escrow, actor=SYSTEM)

    results = run_in_threads(act, THREADS)

    # The timeout ran once: in one of the threads, or in the scheduled action.
    timeouts = [r for i, r in enumerate(results) if i % 2 == 1]
    assert all(isinstance(r, bool) for r in timeouts), timeouts
    assert timeouts.count(True) <= 1
    refusals = [r for i, r in enumerate(results) if i and i % 2 == 0]
    assert all(isinstance(r, ApplicationError) for r in refusals), refusals
    assert_books(escrow)
    assert (escrow.status, escrow.resolution, escrow.refunded_amount) == (
        "refunded",
        "timeout",
        10_000,
    )
    assert EscrowMovement.objects.filter(escrow=escrow).count() == 1


def test_concurrent_dispute_decisions_decide_once(escrow):
    dispute = disputes.dispute_open(escrow=escrow, actor=SYSTEM, reason="Broken")

    def decide(i: int):
        outcome = "won" if i % 2 else "lost"
        return disputes.dispute_decide(
            dispute=dispute, outcome=outcome, actor=SYSTEM, decided_by=f"thread {i}"
        )

    won, codes = outcomes(run_in_threads(decide, THREADS))

    assert len(won) == 1
    assert codes == ["dispute_decided"] * (THREADS - 1)
    assert_books(escrow)
    assert EscrowMovement.objects.filter(escrow=escrow).count() == 1
