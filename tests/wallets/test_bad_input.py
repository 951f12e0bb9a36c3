"""Bad input is a clear 4xx in the error format and changes nothing: dates that do not
exist, NUL characters (PostgreSQL cannot store them in text or jsonb)."""

import uuid

import pytest
from django.test import Client
from django.utils.html import escape

from tests.helpers import error_code, ledger_state

pytestmark = pytest.mark.django_db


def post(party, path, body):
    return party.api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


def a_transfer(source, destination, **extra):
    return {
        "source_account_id": str(source.pk),
        "destination_account_id": str(destination.pk),
        "amount": "1000",
        "currency": "KRW",
        **extra,
    }


def a_hold(account, counterparty, **extra):
    return {
        "account_id": str(account.pk),
        "counterparty_account_id": str(counterparty.pk),
        "amount": "1000",
        "currency": "KRW",
        **extra,
    }


# --- Dates that match the format but do not exist -------------------------------------------

IMPOSSIBLE_MOMENTS = [
    ("from", "2026-13-45"),  # month 13, day 45
    ("from", "2026-02-29"),  # not a leap year
    ("to", "2026-02-30T10:00:00"),
    ("to", "2026-01-01T24:00:00"),  # hour 24
    ("from", "2026-01-01T10:00:00+25:00"),  # an offset past a day
    ("to", "9999-12-31"),  # "to" a date ends the next day: year 10000
    ("from", "0001-01-01T00:00:00"),  # before year 1 in UTC, where the database counts
]


@pytest.mark.parametrize("path", ["/api/v1/transactions", "/api/v1/transactions/export.csv"])
@pytest.mark.parametrize("field,value", IMPOSSIBLE_MOMENTS)
def test_the_history_refuses_impossible_dates_with_a_field_error(
    alice, accounts, path, field, value
):
    response = alice.api.get(path, {field: value})
    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid_filter"
    assert list(response.json()["error"]["fields"]) == [field]


def test_the_history_still_takes_real_dates_and_date_times(alice, accounts):
    for params in (
        {"from": "2024-02-29", "to": "2026-12-31"},
        {"from": "2026-01-01T00:00:00+09:00", "to": "2026-01-02T23:59:59"},
    ):
        assert alice.api.get("/api/v1/transactions", params).status_code == 200


@pytest.mark.parametrize("field,value", IMPOSSIBLE_MOMENTS)
def test_the_dashboard_history_shows_impossible_dates_as_a_form_error(
    alice, accounts, field, value
):
    message = alice.api.get("/api/v1/transactions", {field: value}).json()["error"]["message"]
    browser = Client()
    browser.force_login(alice.owner)
    page = browser.get("/wallets/transactions/", {field: value})
    assert page.status_code == 400
    assert escape(message) in page.content.decode()
    export = browser.get("/wallets/transactions/export.csv", {field: value})
    assert export.status_code == 302 and export["Location"] == "/wallets/transactions/"
    assert escape(message) in browser.get(export["Location"]).content.decode()


@pytest.mark.parametrize(
    "expires_at",
    ["2026-13-01T00:00:00", "2026-02-30T10:00:00+09:00", "2026-01-01T10:00:00-24:30"],
)
def test_a_hold_refuses_an_impossible_expiry_and_writes_nothing(alice, accounts, expires_at):
    main, savings = accounts
    before = ledger_state()
    response = post(alice, "/api/v1/holds", a_hold(main, savings, expires_at=expires_at))
    assert response.status_code == 400, response.content
    assert error_code(response) == "validation_error"
    assert list(response.json()["error"]["fields"]) == ["expires_at"]
    assert ledger_state() == before


# --- NUL characters --------------------------------------------------------------------------

NUL_FIELDS = [
    ("memo", {"memo": "lunch\x00"}),
    ("metadata", {"metadata": {"order": "A-1\x00"}}),
    ("metadata", {"metadata": {"order\x00": "A-1"}}),
    ("metadata", {"metadata": {"lines": [{"sku": ["ok", "x\x00"]}]}}),
]


def assert_refused_for_nul(response, field):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "null_characters_not_allowed"
    assert error["fields"] == {field: ["Null characters are not allowed."]}


@pytest.mark.parametrize("field,extra", NUL_FIELDS)
def test_a_transfer_refuses_nul_characters_and_writes_nothing(alice, accounts, field, extra):
    main, savings = accounts
    before = ledger_state()
    response = post(alice, "/api/v1/transfers", a_transfer(main, savings, **extra))
    assert_refused_for_nul(response, field)
    assert ledger_state() == before


@pytest.mark.parametrize("field,extra", NUL_FIELDS)
def test_a_hold_refuses_nul_characters_and_writes_nothing(alice, accounts, field, extra):
    main, savings = accounts
    before = ledger_state()
    assert_refused_for_nul(post(alice, "/api/v1/holds", a_hold(main, savings, **extra)), field)
    assert ledger_state() == before


def test_captures_and_reversals_refuse_nul_characters(alice, accounts):
    main, savings = accounts
    hold = post(alice, "/api/v1/holds", a_hold(main, savings)).json()
    txn = post(alice, "/api/v1/transfers", a_transfer(main, savings)).json()
    before = ledger_state()
    capture = post(alice, f"/api/v1/holds/{hold['id']}/capture", {"memo": "\x00"})
    assert_refused_for_nul(capture, "memo")
    path = f"/api/v1/transactions/{txn['id']}/reverse"
    assert_refused_for_nul(post(alice, path, {"memo": "oops\x00"}), "memo")
    assert_refused_for_nul(post(alice, path, {"metadata": {"\x00": 1}}), "metadata")
    assert ledger_state() == before


def test_a_bulk_item_with_a_nul_character_fails_alone_or_refuses_the_batch(alice, accounts):
    main, savings = accounts
    items = [
        a_transfer(main, savings),
        a_transfer(main, savings, memo="\x00"),
        a_transfer(main, savings),
    ]
    before = ledger_state()
    atomic = post(alice, "/api/v1/transfers/bulk", {"mode": "atomic", "transfers": items})
    assert atomic.status_code == 400, atomic.content
    assert error_code(atomic) == "null_characters_not_allowed"
    assert atomic.json()["error"]["fields"]["items"]["1"]["code"] == "null_characters_not_allowed"
    assert ledger_state() == before

    independent = post(alice, "/api/v1/transfers/bulk", {"mode": "independent", "transfers": items})
    assert independent.status_code == 201, independent.content
    results = independent.json()["results"]
    assert [r["status"] for r in results] == ["posted", "failed", "posted"]
    assert results[1]["error"]["code"] == "null_characters_not_allowed"
    assert results[1]["error"]["fields"] == {"memo": ["Null characters are not allowed."]}


@pytest.mark.postgres
def test_nul_characters_are_refused_before_postgresql_sees_them(alice, accounts):
    """PostgreSQL refuses NUL in text ("cannot contain NUL") and in jsonb (\\u0000): the
    check must come first, or these requests fail as 500s."""
    main, savings = accounts
    before = ledger_state()
    for field, extra in NUL_FIELDS:
        assert_refused_for_nul(
            post(alice, "/api/v1/transfers", a_transfer(main, savings, **extra)), field
        )
        assert_refused_for_nul(post(alice, "/api/v1/holds", a_hold(main, savings, **extra)), field)
    assert ledger_state() == before


NUL_QUERIES = [
    ("/api/v1/transactions", "kind"),
    ("/api/v1/transactions/export.csv", "kind"),
    ("/api/v1/holds", "status"),
    ("/api/v1/accounts", "currency"),
    ("/api/v1/accounts", "status"),
]


@pytest.mark.parametrize("path,param", NUL_QUERIES)
def test_list_filters_refuse_nul_characters(alice, accounts, path, param):
    response = alice.api.get(path, {param: "pending\x00"})
    assert_refused_for_nul(response, param)


def test_the_dashboard_history_refuses_nul_characters(alice, accounts):
    browser = Client()
    browser.force_login(alice.owner)
    page = browser.get("/wallets/transactions/", {"kind": "transfer\x00"})
    assert page.status_code == 400 and "Null characters are not allowed." in page.content.decode()


def test_an_idempotency_key_with_a_nul_character_is_refused(alice, accounts):
    main, savings = accounts
    before = ledger_state()
    response = alice.api.post(
        "/api/v1/transfers", a_transfer(main, savings), format="json", HTTP_IDEMPOTENCY_KEY="k\x00"
    )
    assert response.status_code == 400 and error_code(response) == "invalid_idempotency_key"
    assert ledger_state() == before


@pytest.mark.postgres
def test_nul_characters_in_filters_are_refused_before_postgresql_sees_them(alice, accounts):
    for path, param in NUL_QUERIES:
        assert_refused_for_nul(alice.api.get(path, {param: "\x00"}), param)


# --- Amounts outside the one grammar (sandbox.currencies.AMOUNT_GRAMMAR) -------------------

BAD_AMOUNTS = ["1e3", " 1000", "1000 ", "+1000", "1_000", "1000.", "0100", "\u0663", 1000]


def assert_refused_as_amount(response, field="amount"):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_amount"
    assert list(error["fields"]) == [field]
    assert '"12.34"' in error["message"]  # the message says the expected form


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_transfer_refuses_an_amount_outside_the_grammar(alice, accounts, amount):
    main, savings = accounts
    before = ledger_state()
    assert_refused_as_amount(
        post(alice, "/api/v1/transfers", a_transfer(main, savings, amount=amount))
    )
    assert ledger_state() == before


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_bulk_item_refuses_an_amount_outside_the_grammar(alice, accounts, amount):
    main, savings = accounts
    items = [a_transfer(main, savings), a_transfer(main, savings, amount=amount)]
    before = ledger_state()
    atomic = post(alice, "/api/v1/transfers/bulk", {"mode": "atomic", "transfers": items})
    assert atomic.status_code == 400, atomic.content
    assert atomic.json()["error"]["fields"]["items"]["1"]["code"] == "invalid_amount"
    assert ledger_state() == before


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_hold_capture_refuses_an_amount_outside_the_grammar(alice, accounts, amount):
    main, savings = accounts
    hold = post(alice, "/api/v1/holds", a_hold(main, savings)).json()
    before = ledger_state()
    capture = post(alice, f"/api/v1/holds/{hold['id']}/capture", {"amount": amount})
    assert_refused_as_amount(capture)
    assert ledger_state() == before
    refused_hold = post(alice, "/api/v1/holds", a_hold(main, savings, amount=amount))
    assert_refused_as_amount(refused_hold)
    assert ledger_state() == before
