"""The bank network answers exactly what its schema documents: every object as its
presenter builds it, key for key and type for type (strict, see ``tests.api_schema``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api_schema import assert_matches_schema

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]


def post(party, path, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return party.api.post(path, body, format="json", **headers)


def test_deposits_transfers_links_and_tester_controls_answer_their_documented_shapes(world):
    alice = world.party
    # given: a deposit, a verified link, a withdrawal, a bank transfer and a rule
    deposit = post(
        alice,
        "/api/v1/test_helpers/deposits",
        {
            "from_bank_account_id": str(world.kim.pk),
            "bank_code": world.account.bank_code,
            "account_number": world.account.account_number,
            "amount": "50000",
            "currency": "KRW",
        },
        key="d-1",
    )
    deposit_id = assert_matches_schema(deposit, "post")["id"]
    world.advance(timedelta(minutes=1))
    rule = post(
        alice,
        f"/api/v1/test_helpers/nodes/{world.node.pk}/delay_withdrawals",
        {"count": 1, "seconds": 30},
    )
    assert rule.status_code == 201, rule.content
    assert_matches_schema(rule, "post")
    link = post(
        alice,
        f"/api/v1/nodes/{world.node.pk}/account_links",
        {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"},
    )
    link_id = assert_matches_schema(link, "post")["id"]
    statement = assert_matches_schema(alice.api.get(f"/api/v1/bank_accounts/{world.kim.pk}"))
    the_code = statement["statement"][0]["memo"].split()[-1]
    confirmed = post(alice, f"/api/v1/account_links/{link_id}/confirm", {"code": the_code})
    assert confirmed.json()["status"] == "verified"
    assert_matches_schema(confirmed, "post")
    money = {"account_id": str(world.account.pk), "amount": "5000", "currency": "KRW"}
    withdrawal = post(alice, "/api/v1/withdrawals", {**money, "link_id": link_id}, key="w-1")
    assert_matches_schema(withdrawal, "post")
    transfer = post(
        alice,
        "/api/v1/bank_transfers",
        {
            **money,
            "bank_code": "004",
            "account_number": "123456789012",
            "holder_name": "Kim Minjun",
        },
        key="t-1",
    )
    transfer_id = assert_matches_schema(transfer, "post")["id"]
    world.advance(timedelta(minutes=5))
    returned = post(alice, f"/api/v1/test_helpers/withdrawals/{transfer_id}/return", {}, key="r-1")
    assert returned.status_code == 200, returned.content
    assert_matches_schema(returned, "post")
    opened = post(
        alice,
        "/api/v1/bank_accounts",
        {"bank_code": "088", "account_number": "110123456789", "holder_name": "Lee Seoyeon"},
    )
    assert_matches_schema(opened, "post")
    offline = post(alice, "/api/v1/test_helpers/banks/088/offline", {})
    assert_matches_schema(offline, "post")

    # then: every read answers its documented shape
    for path in (
        "/api/v1/banks",
        "/api/v1/bank_accounts",
        "/api/v1/account_links",
        f"/api/v1/account_links/{link_id}",
        "/api/v1/deposits",
        f"/api/v1/deposits/{deposit_id}",
        "/api/v1/withdrawals",
        f"/api/v1/withdrawals/{transfer_id}",
        "/api/v1/test_helpers/withdrawal_rules",
        "/api/v1/test_helpers/log",
    ):
        response = alice.api.get(path)
        assert response.status_code == 200, (path, response.content)
        assert_matches_schema(response)


def test_card_payments_answer_their_documented_shapes(world):
    alice = world.party
    body = {
        "account_id": str(world.account.pk),
        "amount": "12000",
        "currency": "KRW",
        "card_number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2030,
        "cvc": "123",
    }
    created = post(alice, "/api/v1/card_payments", body, key="c-1")
    payment_id = assert_matches_schema(created, "post")["id"]
    captured = post(alice, f"/api/v1/card_payments/{payment_id}/capture", {}, key="c-2")
    assert_matches_schema(captured, "post")
    declined = post(
        alice, "/api/v1/card_payments", {**body, "card_number": "4000000000009979"}, key="c-3"
    )
    assert declined.status_code == 402
    assert_matches_schema(declined, "post")
    assert_matches_schema(alice.api.get(f"/api/v1/card_payments/{payment_id}"))
    assert_matches_schema(alice.api.get("/api/v1/card_payments"))


def test_operators_see_banks_in_their_documented_shape(world, operator_api):
    assert_matches_schema(operator_api.get("/api/v1/operator/banks"))
    assert_matches_schema(operator_api.get("/api/v1/operator/banks/004"))
    changed = operator_api.patch(
        "/api/v1/operator/banks/004", {"processing_delay_seconds": 5}, format="json"
    )
    assert_matches_schema(changed, "patch")
