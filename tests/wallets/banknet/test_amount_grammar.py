"""The bank network's money endpoints take amounts in the one grammar too
(``sandbox.currencies.AMOUNT_GRAMMAR``): anything else is 400 ``invalid_amount`` and
changes nothing, no bank object, no ledger row, no idempotency key."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import ledger_state
from wallets.banknet.models import CardPayment, Deposit, StatementLine, Withdrawal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]

BAD_AMOUNTS = ["5e4", " 50000", "50000 ", "+50000", "50_000", "50000.", "050000", "\uff15", 50000]


def everything():
    return (
        ledger_state(),
        Deposit.objects.count(),
        Withdrawal.objects.count(),
        CardPayment.objects.count(),
        StatementLine.objects.count(),
    )


def post(party, path, body):
    return party.api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


def assert_refused_as_amount(response):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_amount"
    assert list(error["fields"]) == ["amount"]
    assert '"12.34"' in error["message"]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_tester_deposit_refuses_an_amount_outside_the_grammar(world, amount):
    before = everything()
    body = {
        "from_bank_account_id": str(world.kim.pk),
        "bank_code": world.account.bank_code,
        "account_number": world.account.account_number,
        "amount": amount,
        "currency": "KRW",
    }
    assert_refused_as_amount(post(world.party, "/api/v1/test_helpers/deposits", body))
    assert everything() == before


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_card_payment_refuses_an_amount_outside_the_grammar(world, amount):
    before = everything()
    body = {
        "account_id": str(world.account.pk),
        "amount": amount,
        "currency": "KRW",
        "card_number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2030,
        "cvc": "123",
    }
    assert_refused_as_amount(post(world.party, "/api/v1/card_payments", body))
    assert everything() == before


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_bank_limit_refuses_an_amount_outside_the_grammar(world, operator_api, amount):
    response = operator_api.patch(
        "/api/v1/operator/banks/004", {"daily_withdrawal_limit": amount}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_amount"
    assert list(response.json()["error"]["fields"]) == ["daily_withdrawal_limit"]
    before = world.kb.daily_withdrawal_limit
    world.kb.refresh_from_db()
    assert world.kb.daily_withdrawal_limit == before
