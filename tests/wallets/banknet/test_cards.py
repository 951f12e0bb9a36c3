"""The card network: magic test numbers, authorise, capture, refund, cancel, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.errors import ApplicationError, Conflict, Unprocessable
from sandbox.events.models import Event
from sandbox.tenants.services import SYSTEM
from wallets.banknet import cards
from wallets.banknet.cards import TEST_CARDS
from wallets.banknet.models import CardPayment
from wallets.models import Hold

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]


def pay(world, number="4242424242424242", amount=25_000, **extra):
    args = {"exp_month": 12, "exp_year": 2030, "cvc": "4242" if number.startswith("37") else "123"}
    return cards.card_authorize(
        actor=SYSTEM,
        account=world.account,
        amount=amount,
        currency="KRW",
        card_number=number,
        **{**args, **extra},
    )


@pytest.mark.parametrize("number", ["4242424242424242", "5555555555554444", "378282246310005"])
def test_approving_cards_authorise_with_a_credit_hold(world, number):
    payment = pay(world, number)
    assert payment.status == "authorized"
    assert world.balance() == (0, 25_000, 0)
    assert Event.objects.filter(type="card_payment.authorized", object_id=str(payment.pk)).exists()


@pytest.mark.parametrize(
    "number,code",
    [(n, c.decline_code) for n, c in TEST_CARDS.items() if c.outcome == "decline"],
)
def test_declining_cards_are_stored_as_declined_and_move_nothing(world, number, code):
    payment = pay(world, number)
    assert (payment.status, payment.decline_code, payment.hold) == ("declined", code, None)
    assert world.balance() == (0, 0, 0)
    assert Event.objects.get(type="card_payment.declined").data["decline_code"] == code


def test_an_expired_card_is_declined_by_the_nodes_date(world):
    payment = pay(world, exp_month=2, exp_year=2025)  # the clock says March 2025
    assert (payment.status, payment.decline_code) == ("declined", "expired_card")


def test_capture_posts_and_refund_gives_back(world):
    payment = pay(world)
    payment = cards.card_capture(payment=payment, actor=SYSTEM, amount=20_000)  # partial
    assert (payment.status, payment.captured_amount) == ("captured", 20_000)
    assert world.balance() == (20_000, 0, 0)  # the other 5,000 was released

    cards.card_refund(payment=payment, actor=SYSTEM, amount=5_000)
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", 5_000)
    with pytest.raises(ApplicationError) as refused:
        cards.card_refund(payment=payment, actor=SYSTEM, amount=15_001)
    assert refused.value.code == "refund_exceeds_capture"
    cards.card_refund(payment=payment, actor=SYSTEM)
    payment.refresh_from_db()
    assert payment.status == "refunded" and world.balance() == (0, 0, 0)


def test_a_refund_needs_the_money_on_the_merchant_account(world):
    payment = cards.card_capture(payment=pay(world), actor=SYSTEM)
    w = world.transfer(25_000)  # the merchant pays it all out
    assert w.status == "pending"
    with pytest.raises(Unprocessable) as refused:
        cards.card_refund(payment=payment, actor=SYSTEM)
    assert refused.value.code == "insufficient_funds"


def test_challenge_cards_wait_for_the_cardholder(world):
    passed = pay(world, "4000000000003220")
    assert passed.status == "requires_challenge" and world.balance() == (0, 0, 0)
    passed = cards.card_challenge(payment=passed, passed=True, actor=SYSTEM)
    assert passed.status == "authorized"

    failed = cards.card_challenge(
        payment=pay(world, "4000000000003220"), passed=False, actor=SYSTEM
    )
    assert (failed.status, failed.decline_code) == ("declined", "authentication_failed")

    stubborn = cards.card_challenge(
        payment=pay(world, "4000008400001629"), passed=True, actor=SYSTEM
    )
    assert (stubborn.status, stubborn.decline_code) == ("declined", "card_declined")
    with pytest.raises(Conflict):
        cards.card_challenge(payment=stubborn, passed=True, actor=SYSTEM)


def test_cancel_releases_the_authorisation(world):
    payment = cards.card_cancel(payment=pay(world), actor=SYSTEM)
    assert payment.status == "canceled" and world.balance() == (0, 0, 0)
    with pytest.raises(Conflict):
        cards.card_capture(payment=payment, actor=SYSTEM)


def test_an_uncaptured_authorisation_expires_after_seven_days_of_node_time(world):
    payment = pay(world)
    world.advance(timedelta(days=6, hours=23))
    assert CardPayment.objects.get(pk=payment.pk).status == "authorized"
    world.advance(timedelta(hours=2))
    payment.refresh_from_db()
    assert payment.status == "expired" and world.balance() == (0, 0, 0)
    # The ledger's own expiry action for the hold (due at the same node time) ran first.
    assert Hold.objects.get(pk=payment.hold_id).status == "expired"


@pytest.mark.parametrize(
    "number,code",
    [("4242424242424241", "invalid_card_number"), ("4111111111111111", "unknown_test_card")],
)
def test_bad_card_numbers_are_refused_and_nothing_is_stored(world, number, code):
    with pytest.raises(ApplicationError) as refused:
        pay(world, number)
    assert refused.value.code == code
    assert not CardPayment.objects.exists()


def test_the_wrong_currency_is_refused(world):
    with pytest.raises(ApplicationError) as refused:
        cards.card_authorize(
            actor=SYSTEM,
            account=world.account,
            amount=100,
            currency="USD",
            card_number="4242424242424242",
            exp_month=1,
            exp_year=2030,
            cvc="123",
        )
    assert refused.value.code == "currency_mismatch"


def test_the_table_in_the_docs_is_the_table_in_the_code():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "cards.md").read_text()
    rows = [line for line in docs.splitlines() if line.startswith("| `")]
    documented = {}
    for row in rows:
        number, brand, outcome = (cell.strip() for cell in row.strip("|").split("|"))
        documented[number.strip("`").replace(" ", "")] = (brand, outcome)
    assert set(documented) == set(TEST_CARDS)
    for number, card in TEST_CARDS.items():
        _, outcome = documented[number]
        if card.outcome == "decline":
            assert f"`{card.decline_code}`" in outcome, number
        elif card.outcome == "approve":
            assert outcome.startswith("Approved"), number
        else:
            assert "challenge" in outcome, number
