"""Every transition of an escrow, its money and its events: create (held, bound to the
terms' hash), partial and full release (less the fee, to the platform's fee account),
refund, the timeout on the test clock, and what is refused afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.errors import ApplicationError
from sandbox.events.models import Event, ScheduledAction
from sandbox.tenants.services import SYSTEM
from tests.escrow.conftest import FUNDS, START, balances
from wallets import services as ledger
from wallets.escrow import escrows
from wallets.escrow.models import Escrow, EscrowMovement
from wallets.escrow.terms import terms_hash
from wallets.models import Account, Hold
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db


def fees_balance() -> int:
    fees = ledger.platform_account(purpose=Account.Purpose.FEES, currency="KRW")
    fees.refresh_from_db()
    return fees.posted_balance


def event_types(escrow: Escrow) -> list[str]:
    return list(
        Event.objects.filter(object_id=str(escrow.pk), node=escrow.payer_node)
        .order_by("created_at", "pk")
        .values_list("type", flat=True)
    )


def test_it_holds_the_amount_on_the_payers_account_bound_to_the_terms_hash(world):
    escrow = world.escrow()

    assert escrow.status == "held"
    assert balances(world.payer) == (FUNDS, 10_000)
    hold = Hold.objects.get(pk=escrow.hold_id)
    assert (hold.account_id, hold.counterparty_id, hold.amount) == (
        world.payer.pk,
        world.payee.pk,
        10_000,
    )
    assert hold.metadata == {"escrow_id": str(escrow.pk), "terms_hash": escrow.terms_hash}
    assert escrow.terms_hash == terms_hash(escrow.terms)
    assert escrow.terms["amount"] == "10000"
    assert escrow.terms["timeout_at"] == "2025-03-11T09:00:00Z"
    assert escrow.timeout_at == START + timedelta(days=1)
    assert escrows.escrow_verify(escrow) == []
    assert ScheduledAction.objects.filter(kind=escrows.TIMEOUT, status="pending").count() == 1
    # Both nodes hear of it.
    assert Event.objects.filter(object_id=str(escrow.pk), type="escrow.created").count() == 2
    assert verify_ledger().ok


def test_a_partial_release_pays_the_payee_less_the_fee_and_keeps_the_rest_held(world):
    escrow = world.escrow()

    escrow = escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=4_000)

    # 2.5% of 4,000 = 100, plus the fixed 100 with the first release.
    assert escrow.status == "partially_released"
    assert (escrow.released_amount, escrow.fee_amount, escrow.remaining_amount) == (
        4_000,
        200,
        6_000,
    )
    assert balances(world.payer) == (FUNDS - 4_000, 6_000)
    assert balances(world.payee) == (3_800, 0)
    assert fees_balance() == 200
    new_hold = Hold.objects.get(pk=escrow.hold_id)
    assert new_hold.amount == 6_000 and new_hold.metadata["terms_hash"] == escrow.terms_hash
    movement = EscrowMovement.objects.get(escrow=escrow)
    assert (movement.kind, movement.amount, movement.fee) == ("release", 4_000, 200)
    assert movement.transaction.kind == "hold_capture"
    assert movement.fee_transaction.kind == "escrow_fee"
    assert escrows.escrow_verify(escrow) == []
    assert event_types(escrow) == ["escrow.created", "escrow.partially_released"]
    assert verify_ledger().ok


def test_the_last_release_closes_it_and_the_fixed_fee_is_charged_once(world):
    escrow = world.escrow()
    escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=4_000)

    escrow = escrows.escrow_release(escrow=escrow, actor=SYSTEM)

    assert escrow.status == "released" and escrow.resolution == "manual"
    assert escrow.hold_id is None and escrow.closed_at is not None
    # 200 on the first release, 2.5% of 6,000 = 150 on the second.
    assert escrow.fee_amount == 350
    assert balances(world.payer) == (FUNDS - 10_000, 0)
    assert balances(world.payee) == (10_000 - 350, 0)
    assert fees_balance() == 350
    assert ScheduledAction.objects.get(kind=escrows.TIMEOUT).status == "cancelled"
    assert event_types(escrow)[-1] == "escrow.released"
    assert escrows.escrow_verify(escrow) == []
    assert verify_ledger().ok


def test_a_refund_gives_what_remains_back_and_a_release_after_it_is_refused(world):
    escrow = world.escrow()
    escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=1_000)

    escrow = escrows.escrow_refund(escrow=escrow, actor=SYSTEM)

    assert escrow.status == "refunded"
    assert (escrow.released_amount, escrow.refunded_amount) == (1_000, 9_000)
    assert balances(world.payer) == (FUNDS - 1_000, 0)
    with pytest.raises(ApplicationError) as refused:
        escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=1)
    assert (refused.value.status_code, refused.value.code) == (409, "escrow_refunded")
    with pytest.raises(ApplicationError) as again:
        escrows.escrow_refund(escrow=escrow, actor=SYSTEM)
    assert again.value.code == "escrow_refunded"
    assert balances(world.payer) == (FUNDS - 1_000, 0)
    assert verify_ledger().ok


def test_it_refuses_more_than_what_remains_and_moves_nothing(world):
    escrow = world.escrow()
    escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=9_000)

    with pytest.raises(ApplicationError) as refused:
        escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=1_001)

    assert (refused.value.status_code, refused.value.code) == (422, "amount_exceeds_remaining")
    escrow.refresh_from_db()
    assert escrow.remaining_amount == 1_000
    assert balances(world.payer) == (FUNDS - 9_000, 1_000)


def test_a_fee_is_never_more_than_the_release(world):
    escrow = world.escrow(amount=500, fee_rate_bps=10_000, fixed_fee=500)

    escrow = escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=200)

    assert escrow.fee_amount == 200
    assert balances(world.payee) == (0, 0)
    assert verify_ledger().ok


def test_a_manual_escrow_is_refunded_once_when_the_clock_passes_its_timeout(world):
    escrow = world.escrow(release_condition="manual")
    escrows.escrow_release(escrow=escrow, actor=SYSTEM, amount=2_000)

    world.advance(START + timedelta(days=1, seconds=1))

    escrow.refresh_from_db()
    assert (escrow.status, escrow.resolution) == ("refunded", "timeout")
    assert escrow.refunded_amount == 8_000
    assert balances(world.payer) == (FUNDS - 2_000, 0)
    assert escrows.escrow_timeout(escrow_id=escrow.pk) is False  # a second run does nothing
    world.advance(START + timedelta(days=40))  # past the hold's own lifetime too
    assert balances(world.payer) == (FUNDS - 2_000, 0)
    assert event_types(escrow).count("escrow.timed_out") == 1
    assert verify_ledger().ok


def test_a_deadline_escrow_is_released_on_its_timeout(world):
    escrow = world.escrow(release_condition="deadline", fee_rate_bps=0, fixed_fee=0)

    world.advance(START + timedelta(days=2))

    escrow.refresh_from_db()
    assert (escrow.status, escrow.resolution) == ("released", "timeout")
    assert balances(world.payee) == (10_000, 0)
    assert verify_ledger().ok


def test_before_its_timeout_nothing_happens_and_after_it_the_parties_are_refused(world):
    escrow = world.escrow()
    world.advance(START + timedelta(hours=23))
    assert escrows.escrow_timeout(escrow_id=escrow.pk) is False
    escrow.refresh_from_db()
    assert escrow.status == "held"

    # The clock stands at the timeout; the parties no longer act, the timeout does.
    escrow.timeout_at = START + timedelta(hours=22)
    Escrow.objects.filter(pk=escrow.pk).update(timeout_at=escrow.timeout_at)
    with pytest.raises(ApplicationError) as refused:
        escrows.escrow_release(escrow=escrow, actor=SYSTEM)
    assert refused.value.code == "escrow_timed_out"
    assert escrows.escrow_timeout(escrow_id=escrow.pk) is True


@pytest.mark.parametrize(
    "terms,code",
    [
        ({"amount": 0}, "invalid_amount"),
        ({"release_condition": "whenever"}, "invalid_release_condition"),
        ({"timeout_seconds": 59}, "invalid_timeout"),
        ({"timeout_seconds": 14 * 86_400 + 1}, "invalid_timeout"),
        ({"dispute_window_seconds": 86_401}, "invalid_dispute_window"),
        ({"dispute_window_seconds": -1}, "invalid_dispute_window"),
        ({"fee_rate_bps": 10_001}, "invalid_fee_rate"),
        ({"fixed_fee": 10_001}, "invalid_fixed_fee"),
        ({"description": "x" * 201}, "invalid_description"),
        ({"currency": "USD"}, "currency_mismatch"),
        ({"amount": FUNDS + 1}, "insufficient_funds"),
    ],
)
def test_it_refuses_bad_terms_and_holds_nothing(world, terms, code):
    with pytest.raises(ApplicationError) as refused:
        world.escrow(**terms)

    assert refused.value.code == code
    assert not Escrow.objects.exists()
    assert balances(world.payer) == (FUNDS, 0)


def test_the_payer_and_the_payee_differ(world):
    with pytest.raises(ApplicationError) as refused:
        escrows.escrow_create(
            tenant=world.tenant,
            actor=SYSTEM,
            payer_account=world.payer,
            payee_account=world.payer,
            amount=1,
            currency="KRW",
            release_condition="manual",
            timeout_seconds=600,
            dispute_window_seconds=0,
        )
    assert refused.value.code == "same_account"


def test_a_closed_payee_account_refuses_the_release_and_moves_nothing(world):
    escrow = world.escrow(fee_rate_bps=0, fixed_fee=0)
    ledger.account_close(account=world.payee, actor=SYSTEM)

    with pytest.raises(ApplicationError) as refused:
        escrows.escrow_release(escrow=escrow, actor=SYSTEM)

    assert refused.value.code == "account_closed"
    escrow.refresh_from_db()
    assert escrow.status == "held" and escrows.escrow_verify(escrow) == []
    assert balances(world.payer) == (FUNDS, 10_000)
    # The payer still gets the money back.
    escrows.escrow_refund(escrow=escrow, actor=SYSTEM)
    assert balances(world.payer) == (FUNDS, 0)
    assert verify_ledger().ok
