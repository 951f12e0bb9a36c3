"""The bank network's API: flows a tester drives from their own test suite, bad input,
idempotency, and isolation (another tenant's objects answer 404 and stay untouched)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.tenants.models import AuditLogEntry
from wallets.banknet.models import (
    AccountLink,
    BankAccount,
    CardPayment,
    Deposit,
    StatementLine,
    Withdrawal,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]


def code(response) -> str:
    return response.json()["error"]["code"]


def post(party, path, body=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return party.api.post(path, body or {}, format="json", **headers)


def simulate_deposit(world, amount="50000", key="dep-1", **extra):
    body = {
        "from_bank_account_id": str(world.kim.pk),
        "bank_code": world.account.bank_code,
        "account_number": world.account.account_number,
        "amount": amount,
        "currency": "KRW",
        **extra,
    }
    return post(world.party, "/api/v1/test_helpers/deposits", body, key=key)


def test_a_tester_drives_deposit_transfer_failure_and_return_through_the_api(world):
    alice = world.party
    # simulate an inbound deposit (idempotent)
    first = simulate_deposit(world)
    assert first.status_code == 201, first.content
    again = simulate_deposit(world)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Deposit.objects.count() == 1
    world.advance(timedelta(minutes=1))
    assert alice.api.get(f"/api/v1/deposits/{first.json()['id']}").json()["status"] == "credited"

    # make the next transfer fail, then send two
    rule = post(
        alice,
        f"/api/v1/test_helpers/nodes/{world.node.pk}/fail_withdrawals",
        {"count": 1, "reason": "account_closed"},
    )
    assert rule.status_code == 201
    body = {
        "account_id": str(world.account.pk),
        "bank_code": "004",
        "account_number": "123456789012",
        "holder_name": "Kim Minjun",
        "amount": "10000",
        "currency": "KRW",
    }
    failing = post(alice, "/api/v1/bank_transfers", body, key="t-1")
    paid = post(alice, "/api/v1/bank_transfers", body, key="t-2")
    assert failing.status_code == paid.status_code == 201
    world.advance(timedelta(minutes=1))
    shown = {
        w["id"]: w for w in alice.api.get("/api/v1/withdrawals?kind=transfer").json()["results"]
    }
    assert shown[failing.json()["id"]]["failure_reason"] == "account_closed"
    assert shown[paid.json()["id"]]["status"] == "succeeded"

    # the paid one comes back
    returned = post(
        alice,
        f"/api/v1/test_helpers/withdrawals/{paid.json()['id']}/return",
        {"reason": "account_closed"},
        key="r-1",
    )
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    balance = alice.api.get(f"/api/v1/accounts/{world.account.pk}").json()["balances"]
    assert balance["available"] == "50000"

    log = alice.api.get("/api/v1/test_helpers/log").json()["results"]
    assert {e["action"] for e in log} >= {
        "test_helper.deposit",
        "test_helper.fail_withdrawals",
        "test_helper.return",
    }
    assert all(e["actor_label"].startswith("API key") for e in log)


def test_account_verification_through_the_api(world):
    alice = world.party
    started = post(
        alice,
        f"/api/v1/nodes/{world.node.pk}/account_links",
        {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"},
    )
    assert started.status_code == 201, started.content
    link_id = started.json()["id"]
    statement = alice.api.get(f"/api/v1/bank_accounts/{world.kim.pk}").json()["statement"]
    the_code = statement[0]["memo"].split()[-1]
    wrong = post(alice, f"/api/v1/account_links/{link_id}/confirm", {"code": "x"})
    assert wrong.status_code == 422 and code(wrong) == "wrong_code"
    right = post(alice, f"/api/v1/account_links/{link_id}/confirm", {"code": the_code})
    assert right.status_code == 200 and right.json()["status"] == "verified"

    world.fund(20_000)
    withdrawal = post(
        alice,
        "/api/v1/withdrawals",
        {
            "account_id": str(world.account.pk),
            "link_id": link_id,
            "amount": "5000",
            "currency": "KRW",
        },
        key="w-1",
    )
    assert withdrawal.status_code == 201, withdrawal.content
    assert withdrawal.json()["kind"] == "withdrawal"


def test_card_payments_through_the_api(world):
    alice = world.party
    body = {
        "account_id": str(world.account.pk),
        "amount": "12000",
        "currency": "KRW",
        "card_number": "4242 4242 4242 4242",
        "exp_month": 12,
        "exp_year": 2030,
        "cvc": "123",
    }
    created = post(alice, "/api/v1/card_payments", body, key="c-1")
    assert created.status_code == 201 and created.json()["status"] == "authorized"
    payment_id = created.json()["id"]
    captured = post(alice, f"/api/v1/card_payments/{payment_id}/capture", {}, key="c-2")
    assert captured.json()["status"] == "captured"
    refunded = post(
        alice, f"/api/v1/card_payments/{payment_id}/refund", {"amount": "2000"}, key="c-3"
    )
    assert refunded.json()["status"] == "partially_refunded"

    declined = post(
        alice, "/api/v1/card_payments", {**body, "card_number": "4000000000009979"}, key="c-4"
    )
    assert declined.status_code == 402 and declined.json()["decline_code"] == "stolen_card"
    replay = post(
        alice, "/api/v1/card_payments", {**body, "card_number": "4000000000009979"}, key="c-4"
    )
    assert replay.status_code == 402 and CardPayment.objects.count() == 2


@pytest.mark.parametrize(
    "path,body,expected",
    [
        (
            "/api/v1/bank_accounts",
            {"bank_code": "999", "account_number": "1234567890", "holder_name": "X"},
            "unknown_bank",
        ),
        (
            "/api/v1/bank_accounts",
            {"bank_code": "004", "account_number": "12ab", "holder_name": "X"},
            "invalid_account_number",
        ),
        (
            "/api/v1/bank_accounts",
            {
                "bank_code": "004",
                "account_number": "1234567890",
                "holder_name": "X",
                "currency": "USD",
            },
            "currency_mismatch",
        ),
    ],
)
def test_bad_bank_accounts_are_refused(world, path, body, expected):
    before = BankAccount.objects.count()
    response = post(world.party, path, body)
    assert response.status_code == 400 and code(response) == expected
    assert BankAccount.objects.count() == before


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"bank_code": "777"}, "unknown_bank"),
        ({"account_number": "1234"}, "invalid_account_number"),
        ({"currency": "JPY", "amount": "100"}, "currency_mismatch"),
        ({"amount": "12.5"}, "invalid_precision"),
    ],
)
def test_bad_transfers_are_refused_with_nothing_changed(world, change, expected):
    world.fund(10_000)
    body = {
        "account_id": str(world.account.pk),
        "bank_code": "004",
        "account_number": "123456789012",
        "holder_name": "Kim Minjun",
        "amount": "1000",
        "currency": "KRW",
        **change,
    }
    response = post(world.party, "/api/v1/bank_transfers", body, key="bad")
    assert response.status_code == 400 and code(response) == expected, response.content
    assert not Withdrawal.objects.exists()
    assert world.balance() == (10_000, 0, 0)


def _transfer_body(world, amount):
    return {
        "account_id": str(world.account.pk),
        "bank_code": "004",
        "account_number": "123456789012",
        "holder_name": "Kim Minjun",
        "amount": amount,
        "currency": "KRW",
    }


def _deposit_body(world, amount):
    return {
        "from_bank_account_id": str(world.kim.pk),
        "bank_code": world.account.bank_code,
        "account_number": world.account.account_number,
        "amount": amount,
        "currency": "KRW",
    }


def _card_body(world, amount):
    return {
        "account_id": str(world.account.pk),
        "amount": amount,
        "currency": "KRW",
        "card_number": "4242424242424242",
        "exp_month": 1,
        "exp_year": 2031,
        "cvc": "123",
    }


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/v1/bank_transfers", _transfer_body),
        ("/api/v1/test_helpers/deposits", _deposit_body),
        ("/api/v1/card_payments", _card_body),
    ],
)
@pytest.mark.parametrize(
    "amount,expected",
    [
        (100, "invalid_amount"),
        (12.5, "invalid_amount"),
        (True, "invalid_amount"),
        ("12.5", "invalid_precision"),
    ],
)
def test_amounts_are_decimal_strings_never_json_numbers(world, path, body, amount, expected):
    world.fund(10_000)
    response = post(world.party, path, body(world, amount), key="numbers")
    assert response.status_code == 400, response.content
    assert code(response) == expected
    if expected == "invalid_amount" and not isinstance(amount, str):
        # the same words as /api/v1/transfers
        assert response.json()["error"]["message"] == (
            'Amounts must be decimal strings such as "12.34", not numbers.'
        )
        assert "amount" in response.json()["error"]["fields"]
    assert not Withdrawal.objects.exists() and not CardPayment.objects.exists()
    assert Deposit.objects.count() == 1  # the funding one
    assert world.balance() == (10_000, 0, 0)


def test_money_moving_posts_need_an_idempotency_key(world):
    response = post(world.party, "/api/v1/test_helpers/deposits", {"amount": "1"})
    assert response.status_code == 400 and code(response) == "idempotency_key_required"


def test_another_tenants_objects_answer_404_and_stay_untouched(world, outsider):
    world.fund(50_000)
    link = post(
        world.party,
        f"/api/v1/nodes/{world.node.pk}/account_links",
        {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"},
    ).json()
    transfer = world.transfer(1_000)
    payment = post(
        world.party,
        "/api/v1/card_payments",
        {
            "account_id": str(world.account.pk),
            "amount": "1000",
            "currency": "KRW",
            "card_number": "4242424242424242",
            "exp_month": 1,
            "exp_year": 2031,
            "cvc": "123",
        },
        key="p",
    ).json()
    deposit = Deposit.objects.get()
    attempts = [
        ("get", f"/api/v1/bank_accounts/{world.kim.pk}", None),
        ("post", f"/api/v1/bank_accounts/{world.kim.pk}/close", None),
        (
            "post",
            f"/api/v1/nodes/{world.node.pk}/account_links",
            {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"},
        ),
        ("get", f"/api/v1/account_links/{link['id']}", None),
        ("post", f"/api/v1/account_links/{link['id']}/confirm", {"code": "0000"}),
        ("get", f"/api/v1/deposits/{deposit.pk}", None),
        ("get", f"/api/v1/withdrawals/{transfer.pk}", None),
        ("post", f"/api/v1/test_helpers/withdrawals/{transfer.pk}/return", {}),
        ("get", f"/api/v1/card_payments/{payment['id']}", None),
        ("post", f"/api/v1/card_payments/{payment['id']}/capture", {}),
        ("post", f"/api/v1/card_payments/{payment['id']}/cancel", {}),
        (
            "post",
            f"/api/v1/test_helpers/nodes/{world.node.pk}/fail_withdrawals",
            {"count": 1, "reason": "account_closed"},
        ),
        (
            "post",
            "/api/v1/test_helpers/deposits",
            {
                "from_bank_account_id": str(world.kim.pk),
                "bank_code": "004",
                "account_number": world.account.account_number,
                "amount": "1",
                "currency": "KRW",
            },
        ),
        (
            "post",
            "/api/v1/bank_transfers",
            {
                "account_id": str(world.account.pk),
                "bank_code": "004",
                "account_number": "123456789012",
                "holder_name": "Kim Minjun",
                "amount": "1",
                "currency": "KRW",
            },
        ),
        (
            "post",
            "/api/v1/withdrawals",
            {
                "account_id": str(world.account.pk),
                "link_id": link["id"],
                "amount": "1",
                "currency": "KRW",
            },
        ),
        (
            "post",
            "/api/v1/card_payments",
            {
                "account_id": str(world.account.pk),
                "amount": "1",
                "currency": "KRW",
                "card_number": "4242424242424242",
                "exp_month": 1,
                "exp_year": 2031,
                "cvc": "123",
            },
        ),
    ]
    for method, path, body in attempts:
        response = getattr(outsider.api, method)(
            path, body or {}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )
        assert response.status_code == 404, (method, path, response.status_code, response.content)
        assert code(response).endswith("not_found")
    for listing in (
        "bank_accounts",
        "account_links",
        "deposits",
        "withdrawals",
        "card_payments",
        "test_helpers/log",
    ):
        assert outsider.api.get(f"/api/v1/{listing}").json()["results"] == [], listing
    # untouched
    assert BankAccount.objects.get(pk=world.kim.pk).status == "open"
    assert AccountLink.objects.get(pk=link["id"]).failed_attempts == 0
    assert Withdrawal.objects.get(pk=transfer.pk).status == "pending"
    assert CardPayment.objects.get(pk=payment["id"]).status == "authorized"
    assert Deposit.objects.count() == 1 and Withdrawal.objects.count() == 1
    assert not AuditLogEntry.objects.filter(
        tenant=outsider.tenant, action__startswith="test_helper"
    ).exists()
    assert StatementLine.objects.filter(tenant=outsider.tenant).count() == 0


def test_a_bank_taken_offline_is_offline_for_that_tenant_only(world, outsider):
    assert post(world.party, "/api/v1/test_helpers/banks/004/offline").json()["online"] is False
    mine = {b["code"]: b["online"] for b in world.party.api.get("/api/v1/banks").json()}
    theirs = {b["code"]: b["online"] for b in outsider.api.get("/api/v1/banks").json()}
    assert mine["004"] is False and theirs["004"] is True
    assert set(mine) >= {"004", "088", "081", "011", "020", "003", "021000021", "0005"}
    assert post(world.party, "/api/v1/test_helpers/banks/004/online").json()["online"] is True
    assert code(post(world.party, "/api/v1/test_helpers/banks/999/offline")) == "unknown_bank"


def test_operators_edit_bank_hours_and_tenants_cannot(world, operator_api):
    changed = operator_api.patch(
        "/api/v1/operator/banks/004",
        {
            "maintenance_starts_at": "23:00",
            "maintenance_ends_at": "01:00",
            "daily_withdrawal_limit": "1000000",
        },
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["maintenance_window"] == {"starts_at": "23:00", "ends_at": "01:00"}
    assert changed.json()["daily_withdrawal_limit"] == {"amount": "1000000", "currency": "KRW"}
    half = operator_api.patch(
        "/api/v1/operator/banks/004", {"maintenance_starts_at": None}, format="json"
    )
    assert half.status_code == 400 and code(half) == "invalid_maintenance_window"
    refused = world.party.api.patch(
        "/api/v1/operator/banks/004", {"is_online": False}, format="json"
    )
    assert refused.status_code == 403
    assert AuditLogEntry.objects.filter(action="bank.updated").count() == 1
