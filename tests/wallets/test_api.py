"""The wallet API: transfers, idempotency, bad input, holds, reversals, history."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import AccountFactory, NodeFactory, fund
from tests.helpers import error_code, ledger_state
from wallets.models import Account, Entry, IdempotencyKey, LedgerTransaction
from wallets.tasks import purge_idempotency_keys
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db


def key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def books(alice):
    """Alice's node with two funded accounts (KRW and USD) and an empty KRW account."""
    node = NodeFactory(tenant=alice.tenant)
    main = node.wallet.accounts.get()
    usd = AccountFactory(node=node, currency="USD", name="Dollars")
    savings = AccountFactory(node=node, name="Savings")
    fund(main, 1_000_000)
    fund(usd, 50_000)
    return node, main, usd, savings


def post_transfer(party, body, idempotency_key=None):
    return party.api.post(
        "/api/v1/transfers",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=idempotency_key or key(),
    )


def a_transfer(source, destination, amount="1000", currency="KRW", **extra):
    return {
        "source_account_id": str(source.pk),
        "destination_account_id": str(destination.pk),
        "amount": amount,
        "currency": currency,
        **extra,
    }


def test_it_shows_a_wallet_with_balances_per_currency_and_per_account(alice, books):
    node, main, _usd, _savings = books
    response = alice.api.get(f"/api/v1/nodes/{node.pk}/wallet")
    assert response.status_code == 200
    body = response.json()
    assert {b["currency"]: b["posted"] for b in body["balances"]} == {
        "KRW": "1000000",
        "USD": "500.00",
    }
    accounts = {a["name"]: a for a in body["accounts"]}
    assert accounts["Dollars"]["balances"] == {
        "posted": "500.00",
        "pending": "0.00",
        "held": "0.00",
        "available": "500.00",
    }
    assert accounts["Main"]["account_number"] == main.account_number


def test_it_opens_lists_and_closes_accounts(alice, books):
    node, *_ = books
    created = alice.api.post(
        "/api/v1/accounts",
        {"node_id": str(node.pk), "currency": "BTC", "name": "Cold", "customer_reference": "c-42"},
        format="json",
    )
    assert created.status_code == 201, created.content
    account = created.json()
    assert (account["currency"], account["customer_reference"], account["bank_code"]) == (
        "BTC",
        "c-42",
        "004",
    )
    assert account["balances"]["posted"] == "0.00000000"
    listed = alice.api.get("/api/v1/accounts", {"currency": "BTC"}).json()["results"]
    assert [a["id"] for a in listed] == [account["id"]]
    balance = alice.api.get(f"/api/v1/accounts/{account['id']}/balance").json()
    assert balance["balances"]["available"] == "0.00000000"
    closed = alice.api.post(f"/api/v1/accounts/{account['id']}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_it_refuses_an_unknown_currency_for_a_new_account(alice, books):
    node, *_ = books
    response = alice.api.post(
        "/api/v1/accounts",
        {"node_id": str(node.pk), "currency": "DOGE", "name": "x"},
        format="json",
    )
    assert response.status_code == 400 and error_code(response) == "unknown_currency"


def test_it_transfers_and_answers_with_the_transaction_and_its_entries(alice, books):
    _, main, _, savings = books
    response = post_transfer(
        alice, a_transfer(main, savings, "2500", memo="to savings", metadata={"ref": "x1"})
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"] == {"amount": "2500", "currency": "KRW"}
    assert (body["memo"], body["metadata"], body["is_inter_node"]) == (
        "to savings",
        {"ref": "x1"},
        False,
    )
    assert sorted((e["direction"], e["amount"]) for e in body["entries"]) == [
        ("credit", "2500"),
        ("debit", "-2500"),
    ]
    detail = alice.api.get(f"/api/v1/transactions/{body['id']}").json()
    assert detail["entries"] == body["entries"] and detail["reversed_by"] is None


def test_it_replays_the_original_answer_for_the_same_key_and_body(alice, books):
    _, main, _, savings = books
    idempotency_key = key()
    first = post_transfer(alice, a_transfer(main, savings, "700"), idempotency_key)
    # Same body with its keys in another order: the same request.
    body = dict(reversed(list(a_transfer(main, savings, "700").items())))
    second = post_transfer(alice, body, idempotency_key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1
    main.refresh_from_db()
    assert main.posted_balance == 1_000_000 - 700


def test_expired_idempotency_keys_are_purged_and_then_a_retry_runs_anew(alice, books, settings):
    _, main, _, savings = books
    settings.SANDBOX_IDEMPOTENCY_KEY_DAYS = 7
    old_key, recent_key = key(), key()
    post_transfer(alice, a_transfer(main, savings, "700"), old_key)
    post_transfer(alice, a_transfer(main, savings, "800"), recent_key)
    now = timezone.now()
    IdempotencyKey.objects.filter(key=old_key).update(created_at=now - timedelta(days=7, seconds=1))
    IdempotencyKey.objects.filter(key=recent_key).update(created_at=now - timedelta(days=6))

    assert purge_idempotency_keys() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == [recent_key]
    retried = post_transfer(alice, a_transfer(main, savings, "700"), old_key)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    replayed = post_transfer(alice, a_transfer(main, savings, "800"), recent_key)
    assert replayed["Idempotent-Replayed"] == "true"
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 3


def test_it_refuses_a_reused_key_with_another_body_and_writes_nothing(alice, books):
    _, main, _, savings = books
    idempotency_key = key()
    post_transfer(alice, a_transfer(main, savings, "700"), idempotency_key)
    reused = post_transfer(alice, a_transfer(main, savings, "701"), idempotency_key)
    assert reused.status_code == 409 and error_code(reused) == "idempotency_key_reused"
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1


def test_it_requires_an_idempotency_key_on_money_moving_posts(alice, books):
    _, main, _, savings = books
    for path, body in (
        ("/api/v1/transfers", a_transfer(main, savings)),
        ("/api/v1/transfers/bulk", {"transfers": [a_transfer(main, savings)]}),
        ("/api/v1/holds", {}),
    ):
        response = alice.api.post(path, body, format="json")
        assert response.status_code == 400, path
        assert error_code(response) == "idempotency_key_required"
    assert not LedgerTransaction.objects.filter(kind="transfer").exists()


def test_it_keeps_idempotency_keys_per_tenant(alice, outsider, books):
    _, main, _, savings = books
    their_node = NodeFactory(tenant=outsider.tenant)
    theirs = their_node.wallet.accounts.get()
    their_savings = AccountFactory(node=their_node)
    fund(theirs, 10)
    shared_key = key()
    assert post_transfer(alice, a_transfer(main, savings, "5"), shared_key).status_code == 201
    response = post_transfer(outsider, a_transfer(theirs, their_savings, "5"), shared_key)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert IdempotencyKey.objects.filter(key=shared_key).count() == 2


BAD_AMOUNTS = [
    (12.5, "KRW", "invalid_amount"),
    (12, "KRW", "invalid_amount"),
    ("1.5", "KRW", "invalid_precision"),
    ("1.234", "USD", "invalid_precision"),
    ("0", "KRW", "invalid_amount"),
    ("-5", "KRW", "invalid_amount"),
    ("abc", "KRW", "invalid_amount"),
    ("NaN", "KRW", "invalid_amount"),
    ("1000000000000001", "KRW", "amount_too_large"),
    ("10", "XYZ", "unknown_currency"),
]


@pytest.mark.parametrize("amount,currency,code", BAD_AMOUNTS)
def test_it_refuses_bad_amounts_and_writes_nothing(alice, books, amount, currency, code):
    _, main, _, savings = books
    before = Entry.objects.count()
    response = post_transfer(alice, a_transfer(main, savings, amount, currency))
    assert response.status_code == 400, response.content
    assert error_code(response) == code
    assert Entry.objects.count() == before
    assert not IdempotencyKey.objects.exists()


def test_it_refuses_a_transfer_to_the_same_account_and_writes_nothing(alice, books):
    _, main, *_ = books
    before = ledger_state()
    response = post_transfer(alice, a_transfer(main, main))
    assert response.status_code == 400 and error_code(response) == "same_account"
    assert ledger_state() == before
    assert not IdempotencyKey.objects.exists()


def test_it_refuses_another_tenants_account_as_if_it_did_not_exist(alice, outsider, books):
    _, main, _, _ = books
    theirs = NodeFactory(tenant=outsider.tenant).wallet.accounts.get()
    for body in (a_transfer(main, theirs), a_transfer(theirs, main)):
        response = post_transfer(alice, body)
        assert response.status_code == 404 and error_code(response) == "account_not_found"
    assert not LedgerTransaction.objects.filter(kind="transfer").exists()


def test_it_refuses_a_closed_account_and_writes_nothing(alice, books):
    _, main, _, _ = books
    closed = AccountFactory(node=books[0])
    assert alice.api.post(f"/api/v1/accounts/{closed.pk}/close").status_code == 200
    before = ledger_state()
    for body in (a_transfer(main, closed), a_transfer(closed, main)):
        response = post_transfer(alice, body)
        assert response.status_code == 409 and error_code(response) == "account_closed"
    assert ledger_state() == before
    assert not IdempotencyKey.objects.exists()


def test_it_refuses_mismatched_currency_unknown_fields_and_json_that_is_not_an_object(alice, books):
    _, main, usd, _ = books
    mismatch = post_transfer(alice, a_transfer(main, usd, "1", "KRW"))
    assert mismatch.status_code == 400 and error_code(mismatch) == "currency_mismatch"
    unknown = post_transfer(alice, {**a_transfer(main, usd), "amout": "1"})
    assert unknown.status_code == 400 and error_code(unknown) == "unknown_field"
    not_object = post_transfer(alice, ["nope"])
    assert not_object.status_code == 400 and error_code(not_object) == "invalid_body"


def test_it_answers_422_when_funds_or_conditions_fail(alice, books):
    _, main, _, savings = books
    too_much = post_transfer(alice, a_transfer(main, savings, "1000001"))
    assert too_much.status_code == 422 and error_code(too_much) == "insufficient_funds"
    floor = post_transfer(
        alice,
        a_transfer(main, savings, "600000", conditions={"source_available_at_least": "500000"}),
    )
    assert floor.status_code == 422 and error_code(floor) == "balance_condition_failed"
    version = alice.api.get(f"/api/v1/accounts/{main.pk}").json()["lock_version"]
    stale = post_transfer(
        alice, a_transfer(main, savings, "1", conditions={"source_lock_version": version - 1})
    )
    assert stale.status_code == 422 and error_code(stale) == "lock_version_mismatch"
    fresh = post_transfer(
        alice, a_transfer(main, savings, "1", conditions={"source_lock_version": version})
    )
    assert fresh.status_code == 201


def test_it_posts_bulk_transfers_independently(alice, books):
    _, main, usd, savings = books
    items = [a_transfer(main, savings, "10") for _ in range(20)]
    items[3] = a_transfer(main, savings, "1.5")  # bad precision
    items[7] = a_transfer(main, savings, "99999999")  # more than there is
    items[9] = a_transfer(main, usd, "1")  # another currency
    response = alice.api.post(
        "/api/v1/transfers/bulk",
        {"mode": "independent", "transfers": items},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["posted"], body["failed"]) == (17, 3)
    failed = {r["index"]: r["error"]["code"] for r in body["results"] if r["status"] == "failed"}
    assert failed == {3: "invalid_precision", 7: "insufficient_funds", 9: "currency_mismatch"}
    savings.refresh_from_db()
    assert savings.posted_balance == 170
    assert verify_ledger().ok


def test_it_posts_bulk_transfers_all_or_nothing(alice, books):
    _, main, _, savings = books
    items = [a_transfer(main, savings, "400000") for _ in range(3)]  # the third overdraws
    response = alice.api.post(
        "/api/v1/transfers/bulk",
        {"mode": "atomic", "transfers": items},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert response.status_code == 422 and error_code(response) == "insufficient_funds"
    assert response.json()["error"]["fields"]["items"]["2"]["code"] == "insufficient_funds"
    assert not LedgerTransaction.objects.filter(kind="transfer").exists()
    ok = alice.api.post(
        "/api/v1/transfers/bulk",
        {"transfers": items[:2]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert ok.status_code == 201 and ok.json()["posted"] == 2


@pytest.mark.parametrize("mode", ["atomic", "independent"])
def test_another_tenants_key_cannot_bulk_transfer_from_or_to_these_accounts(
    alice, outsider, books, mode
):
    _, main, _, savings = books
    theirs = NodeFactory(tenant=outsider.tenant).wallet.accounts.get()
    fund(theirs, 1_000)
    items = [
        a_transfer(main, savings, "10"),  # both alice's
        a_transfer(main, theirs, "10"),  # from alice's
        a_transfer(theirs, savings, "10"),  # to alice's
    ]
    before = ledger_state()
    response = outsider.api.post(
        "/api/v1/transfers/bulk",
        {"mode": mode, "transfers": items},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    not_found = {
        "code": "account_not_found",
        "message": f"No account with id {main.pk}.",
        "fields": {"source_account_id": ["No such account."]},
    }
    if mode == "atomic":
        # The first refusal answers for the batch; nothing is written, not even the key.
        assert response.status_code == 404, response.content
        assert error_code(response) == "account_not_found"
        problems = response.json()["error"]["fields"]["items"]
        assert set(problems) == {"0", "1", "2"}
        assert problems["0"] == {"code": not_found["code"], "message": not_found["message"]}
        assert ledger_state() == before
    else:
        # Each item fails as if the account did not exist; the answer (200, nothing
        # posted) is kept with the outsider's key, and the books do not move.
        assert response.status_code == 200, response.content
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["failed"] * 3
        assert {r["error"]["code"] for r in results} == {"account_not_found"}
        assert results[0]["error"] == not_found
        assert ledger_state()[:3] == before[:3] and ledger_state()[4] == before[4]
        assert not IdempotencyKey.objects.filter(tenant=alice.tenant).exists()
    assert not LedgerTransaction.objects.filter(kind="transfer").exists()


def test_it_refuses_more_than_8000_bulk_transfers(alice, books):
    _, main, _, savings = books
    item = a_transfer(main, savings, "1")
    response = alice.api.post(
        "/api/v1/transfers/bulk",
        {"transfers": [item] * 8001},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert response.status_code == 400 and error_code(response) == "too_many_items"


def test_it_places_captures_and_voids_holds(alice, books):
    _, main, _, savings = books
    placed = alice.api.post(
        "/api/v1/holds",
        {
            "account_id": str(main.pk),
            "counterparty_account_id": str(savings.pk),
            "amount": "300000",
            "currency": "KRW",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert placed.status_code == 201, placed.content
    hold = placed.json()
    balance = alice.api.get(f"/api/v1/accounts/{main.pk}/balance").json()["balances"]
    assert (balance["held"], balance["available"]) == ("300000", "700000")

    captured = alice.api.post(
        f"/api/v1/holds/{hold['id']}/capture",
        {"amount": "120000"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key(),
    )
    assert captured.status_code == 200, captured.content
    assert captured.json()["captured_amount"]["amount"] == "120000"
    assert captured.json()["status"] == "captured"
    balance = alice.api.get(f"/api/v1/accounts/{main.pk}/balance").json()["balances"]
    assert (balance["posted"], balance["held"]) == ("880000", "0")
    again = alice.api.post(
        f"/api/v1/holds/{hold['id']}/void", format="json", HTTP_IDEMPOTENCY_KEY=key()
    )
    assert again.status_code == 409 and error_code(again) == "hold_not_pending"
    listed = alice.api.get("/api/v1/holds", {"account": str(main.pk)}).json()["results"]
    assert [h["id"] for h in listed] == [hold["id"]]


def follow_pages(party, url) -> tuple[list[str], int]:
    """Every id a list shows by following ``next`` from ``url``, and how many pages."""
    ids, pages = [], 0
    while url:
        page = party.api.get(url)
        assert page.status_code == 200, page.content
        ids += [row["id"] for row in page.json()["results"]]
        url, pages = page.json()["next"], pages + 1
    return ids, pages


def test_it_pages_accounts_oldest_first_so_every_one_is_reachable(alice, books):
    node, main, _usd, savings = books
    more = [AccountFactory(node=node, name=f"Extra {i}") for i in range(3)]
    NodeFactory(tenant=alice.tenant)  # another node's Main account: filtered out
    krw = Account.objects.filter(pk__in=[main.pk, savings.pk, *(a.pk for a in more)])
    expected = [str(pk) for pk in krw.order_by("created_at", "pk").values_list("pk", flat=True)]

    ids, pages = follow_pages(alice, f"/api/v1/accounts?node={node.pk}&currency=KRW&limit=2")
    assert (ids, pages) == (expected, 3)
    everything, _ = follow_pages(alice, "/api/v1/accounts?limit=3")
    assert len(everything) == len(set(everything)) == 7
    more[0].status = Account.Status.CLOSED
    more[0].save(update_fields=["status"])
    closed, _ = follow_pages(alice, "/api/v1/accounts?status=closed&limit=1")
    assert closed == [str(more[0].pk)]


def test_it_pages_holds_newest_first_so_every_one_is_reachable(alice, books):
    _, main, usd, savings = books

    def place(account, counterparty, amount):
        response = alice.api.post(
            "/api/v1/holds",
            {
                "account_id": str(account.pk),
                "counterparty_account_id": str(counterparty.pk),
                "amount": amount,
                "currency": account.currency,
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=key(),
        )
        assert response.status_code == 201, response.content
        return response.json()["id"]

    placed = [place(main, savings, str(100 + i)) for i in range(5)]
    place(usd, AccountFactory(node=books[0], currency="USD"), "1.00")  # another account
    voided = alice.api.post(
        f"/api/v1/holds/{placed[0]}/void", format="json", HTTP_IDEMPOTENCY_KEY=key()
    )
    assert voided.status_code == 200

    ids, pages = follow_pages(alice, f"/api/v1/holds?account={main.pk}&limit=2")
    assert (ids, pages) == (list(reversed(placed)), 3)
    pending, _ = follow_pages(alice, f"/api/v1/holds?account={main.pk}&status=pending&limit=3")
    assert pending == list(reversed(placed[1:]))
    everything, _ = follow_pages(alice, "/api/v1/holds?limit=4")
    assert len(everything) == len(set(everything)) == 6


def test_it_reverses_a_transfer_once(alice, books):
    _, main, _, savings = books
    txn = post_transfer(alice, a_transfer(main, savings, "5000")).json()
    path = f"/api/v1/transactions/{txn['id']}/reverse"
    reversal = alice.api.post(path, {"memo": "oops"}, format="json", HTTP_IDEMPOTENCY_KEY=key())
    assert reversal.status_code == 201, reversal.content
    assert reversal.json()["reverses"] == txn["id"]
    again = alice.api.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY=key())
    assert again.status_code == 409 and error_code(again) == "already_reversed"
    detail = alice.api.get(f"/api/v1/transactions/{txn['id']}").json()
    assert detail["reversed_by"] == reversal.json()["id"]


def test_it_pages_the_history_with_keyset_cursors_and_filters(alice, books):
    _, main, usd, savings = books
    ids = [
        post_transfer(alice, a_transfer(main, savings, str(100 + i))).json()["id"] for i in range(7)
    ]
    post_transfer(alice, a_transfer(usd, AccountFactory(node=books[0], currency="USD"), "1.00"))

    seen, url = [], "/api/v1/transactions?kind=transfer&currency=KRW&limit=3"
    while url:
        page = alice.api.get(url).json()
        seen += [t["id"] for t in page["results"]]
        url = page["next"]
    assert seen == list(reversed(ids))

    by_amount = alice.api.get(
        "/api/v1/transactions",
        {"account": str(savings.pk), "min_amount": "103", "max_amount": "104"},
    ).json()["results"]
    assert [t["amount"]["amount"] for t in by_amount] == ["104", "103"]
    with_counterparty = alice.api.get(
        "/api/v1/transactions", {"counterparty": main.account_number, "kind": "transfer"}
    ).json()["results"]
    assert len(with_counterparty) == 7
    account_pages, url = [], f"/api/v1/transactions?account={savings.pk}&limit=2"
    while url:
        page = alice.api.get(url).json()
        account_pages += [t["id"] for t in page["results"]]
        url = page["next"]
    assert account_pages == list(reversed(ids))
    future = alice.api.get("/api/v1/transactions", {"from": "2999-01-01"}).json()["results"]
    assert future == []


@pytest.mark.parametrize(
    "params,code",
    [
        ({"from": "yesterday"}, "invalid_filter"),
        ({"min_amount": "1"}, "invalid_filter"),
        ({"currency": "USD", "min_amount": "1.001"}, "invalid_precision"),
        ({"cursor": "!!!"}, "invalid_cursor"),
        ({"limit": "0"}, "validation_error"),
        ({"account": str(uuid.uuid4())}, "account_not_found"),
    ],
)
def test_it_refuses_bad_history_filters(alice, books, params, code):
    response = alice.api.get("/api/v1/transactions", params)
    assert response.status_code in (400, 404) and error_code(response) == code


def test_it_exports_the_history_as_streamed_csv(alice, books):
    _, main, _, savings = books
    post_transfer(alice, a_transfer(main, savings, "42", memo="=HYPERLINK()"))
    response = alice.api.get("/api/v1/transactions/export.csv", {"account": str(savings.pk)})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["kind"], r["amount"], r["direction"]) for r in rows] == [
        ("transfer", "42", "credit")
    ]
    assert rows[0]["memo"] == "'=HYPERLINK()"


def test_the_books_stay_balanced_after_all_of_it(alice, books):
    _, main, _usd, savings = books
    post_transfer(alice, a_transfer(main, savings, "10"))
    assert verify_ledger().ok
    assert Account.objects.filter(kind="platform").count() == 2  # KRW and USD settlement
