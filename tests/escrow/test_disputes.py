"""A dispute's state machine and what each outcome does to the money: opened (within the
window, by the payer) → evidence_submitted → won (refund what is held) or lost (release
it to the payee, less the fee), exactly once; and the deadline rule on the test clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.errors import ApplicationError
from sandbox.events.models import Event
from sandbox.tenants.services import SYSTEM
from tests.escrow.conftest import FUNDS, START, balances
from wallets.escrow import disputes, escrows
from wallets.escrow.models import EscrowDispute
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db


def open_dispute(world, **terms):
    escrow = world.escrow(**terms)
    return escrow, disputes.dispute_open(escrow=escrow, actor=SYSTEM, reason="Never arrived")


def test_opening_a_dispute_freezes_the_escrow(world):
    escrow, dispute = open_dispute(world)

    escrow.refresh_from_db()
    assert (escrow.status, dispute.status) == ("disputed", "opened")
    assert dispute.due_by == START + disputes.DECISION_PERIOD
    for act in (
        lambda: escrows.escrow_release(escrow=escrow, actor=SYSTEM),
        lambda: escrows.escrow_refund(escrow=escrow, actor=SYSTEM),
    ):
        with pytest.raises(ApplicationError) as refused:
            act()
        assert (refused.value.status_code, refused.value.code) == (409, "escrow_disputed")
    with pytest.raises(ApplicationError) as twice:
        disputes.dispute_open(escrow=escrow, actor=SYSTEM, reason="Again")
    assert twice.value.code == "dispute_exists"
    assert balances(world.payer) == (FUNDS, 10_000)
    assert (
        Event.objects.filter(object_id=str(dispute.pk), type="escrow_dispute.opened").count() == 2
    )


def test_a_won_dispute_refunds_what_is_held_once(world):
    escrow = world.escrow()
    escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=3_000)
    dispute = disputes.dispute_open(escrow=escrow, actor=SYSTEM, reason="Half broken")
    disputes.dispute_submit_evidence(dispute=dispute, actor=SYSTEM, evidence="Photos")

    dispute = disputes.dispute_decide(
        dispute=dispute, outcome="won", actor=SYSTEM, decided_by="operator"
    )

    escrow.refresh_from_db()
    assert dispute.status == "won" and dispute.decided_by == "operator"
    assert (escrow.status, escrow.resolution) == ("refunded", "dispute")
    assert (escrow.released_amount, escrow.refunded_amount) == (3_000, 7_000)
    assert balances(world.payer) == (FUNDS - 3_000, 0)
    with pytest.raises(ApplicationError) as again:
        disputes.dispute_decide(dispute=dispute, outcome="lost", actor=SYSTEM, decided_by="x")
    assert again.value.code == "dispute_decided"
    assert balances(world.payer) == (FUNDS - 3_000, 0)
    types = set(Event.objects.filter(node=world.buyer).values_list("type", flat=True))
    assert {"escrow_dispute.evidence_submitted", "escrow_dispute.won", "escrow.refunded"} <= types
    assert escrows.escrow_verify(escrow) == []
    assert verify_ledger().ok


def test_a_lost_dispute_releases_what_is_held_to_the_payee_less_the_fee(world):
    escrow, dispute = open_dispute(world)

    disputes.dispute_decide(dispute=dispute, outcome="lost", actor=SYSTEM, decided_by="operator")

    escrow.refresh_from_db()
    assert (escrow.status, escrow.resolution) == ("released", "dispute")
    assert escrow.fee_amount == 350  # 2.5% of 10,000 + 100
    assert balances(world.payee) == (10_000 - 350, 0)
    assert balances(world.payer) == (FUNDS - 10_000, 0)
    assert verify_ledger().ok


def test_evidence_goes_with_an_opened_dispute_only_once(world):
    _, dispute = open_dispute(world)
    disputes.dispute_submit_evidence(dispute=dispute, actor=SYSTEM, evidence="Tracking number")

    with pytest.raises(ApplicationError) as refused:
        disputes.dispute_submit_evidence(dispute=dispute, actor=SYSTEM, evidence="More")

    assert refused.value.code == "dispute_not_opened"
    dispute.refresh_from_db()
    assert dispute.evidence == "Tracking number"


def test_the_window_closes_and_closed_escrows_cannot_be_disputed(world):
    late = world.escrow(dispute_window_seconds=60)
    world.advance(START + timedelta(minutes=2))
    with pytest.raises(ApplicationError) as refused:
        disputes.dispute_open(escrow=late, actor=SYSTEM, reason="Too late")
    assert refused.value.code == "dispute_window_closed"

    done = world.escrow()
    escrows.escrow_refund(escrow=done, actor=SYSTEM)
    with pytest.raises(ApplicationError) as closed:
        disputes.dispute_open(escrow=done, actor=SYSTEM, reason="Closed")
    assert closed.value.code == "escrow_closed"
    assert not EscrowDispute.objects.exists()


def test_a_disputed_escrow_ignores_its_timeout_and_the_deadline_rule_decides(world):
    escrow, dispute = open_dispute(world, release_condition="deadline")

    world.advance(START + timedelta(days=2))  # past the escrow's timeout
    escrow.refresh_from_db()
    assert escrow.status == "disputed"

    world.advance(START + timedelta(days=15))  # past the dispute's due_by
    dispute.refresh_from_db()
    escrow.refresh_from_db()
    # Unanswered: won by the payer.
    assert (dispute.status, dispute.decided_by) == ("won", "deadline")
    assert escrow.status == "refunded"
    assert balances(world.payer) == (FUNDS, 0)
    assert disputes.dispute_deadline(dispute_id=dispute.pk) is False
    assert verify_ledger().ok


def test_an_answered_dispute_is_lost_by_the_deadline_rule(world):
    _, dispute = open_dispute(world, fee_rate_bps=0, fixed_fee=0)
    disputes.dispute_submit_evidence(dispute=dispute, actor=SYSTEM, evidence="Delivered")

    world.advance(START + timedelta(days=15))

    dispute.refresh_from_db()
    assert dispute.status == "lost"
    assert balances(world.payee) == (10_000, 0)


def test_the_rule_applied_early_by_a_test_helper(world):
    _, dispute = open_dispute(world)

    dispute = disputes.dispute_decide_by_rule(dispute=dispute, actor=SYSTEM, decided_by="tester")

    assert dispute.status == "won"


@pytest.mark.parametrize(
    "act,code",
    [
        (
            lambda d: disputes.dispute_decide(
                dispute=d, outcome="draw", actor=SYSTEM, decided_by=""
            ),
            "invalid_outcome",
        ),
        (
            lambda d: disputes.dispute_submit_evidence(dispute=d, actor=SYSTEM, evidence=" "),
            "invalid_evidence",
        ),
    ],
)
def test_bad_dispute_input_changes_nothing(world, act, code):
    _, dispute = open_dispute(world)
    with pytest.raises(ApplicationError) as refused:
        act(dispute)
    assert refused.value.code == code
    dispute.refresh_from_db()
    assert dispute.status == "opened"
    assert balances(world.payer) == (FUNDS, 10_000)


def test_a_dispute_needs_a_reason(world):
    escrow = world.escrow()
    with pytest.raises(ApplicationError) as refused:
        disputes.dispute_open(escrow=escrow, actor=SYSTEM, reason="  ")
    assert refused.value.code == "invalid_reason"
