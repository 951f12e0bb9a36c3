"""Amounts people type into forms may group their digits; the API stays strict. Both say
why an amount is refused. Money and account numbers have one format on every page."""

import uuid

import pytest

from sandbox import labels
from sandbox.errors import ApplicationError
from sandbox.templatetags.formatting import money
from tests.helpers import ledger_state
from wallets.inputs import parse_amount, parse_typed_amount
from wallets.templatetags.bank_accounts import account_number

# --- Forms: lenient about separators, strict about everything else ----------------------------


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("1,000", "KRW", 1000),
        ("1 000", "KRW", 1000),
        ("1\u00a0000", "KRW", 1000),  # a no-break space, as copied from a page
        ("1,234,567.89", "USD", 123456789),
        ("  12.50 ", "USD", 1250),
        ("1000", "JPY", 1000),
        ("0.00000001", "BTC", 1),
    ],
)
def test_a_form_takes_digits_grouped_by_three(typed, currency, minor):
    assert parse_typed_amount(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("1e3", "exponent"),
        ("+10", "sign"),
        ("-10", "sign"),
        ("1_0", "underscore"),
        ("\u0661\u0660", "digits other than 0-9"),  # Arabic-Indic "10"
        ("\uff11\uff10", "digits other than 0-9"),  # full-width "10"
        ("1,00", "by three"),
        ("10,000 000", "one kind of separator"),
        ("10.", "a digit on each side"),
        ("", "required"),
    ],
)
def test_a_form_refuses_what_is_not_an_amount_and_says_why(typed, why):
    with pytest.raises(ApplicationError) as refused:
        parse_typed_amount(typed, "USD")
    assert refused.value.code in {"invalid_amount", "required"}
    assert why in refused.value.message.lower() or why == refused.value.code
    assert list(refused.value.fields) == ["amount"]


def test_a_form_still_refuses_more_decimals_than_the_currency_has():
    with pytest.raises(ApplicationError) as refused:
        parse_typed_amount("1,000.5", "KRW")
    assert refused.value.code == "invalid_precision"


# --- The API: strict, with a machine-readable code and the reason -----------------------------


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        (" 10", "space"),
        ("+10", "sign"),
        ("1_0", "underscore"),
        ("\u0661\u0660", "digits other than 0-9"),
        ("1e3", "exponent"),
        ("1,000", "separator"),
        ("010", "leading zero"),
    ],
)
def test_the_api_parser_refuses_with_the_reason(sent, why):
    with pytest.raises(ApplicationError) as refused:
        parse_amount(sent, "KRW")
    assert refused.value.code == "invalid_amount"
    assert why in refused.value.message


@pytest.mark.django_db
@pytest.mark.parametrize(("sent", "why"), [("1,000", "separator"), ("+10", "sign")])
def test_a_transfer_through_the_api_is_refused_with_the_reason(alice, accounts, sent, why):
    main, savings = accounts
    before = ledger_state()
    response = alice.api.post(
        "/api/v1/transfers",
        {
            "source_account_id": str(main.pk),
            "destination_account_id": str(savings.pk),
            "amount": sent,
            "currency": "KRW",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_amount"
    assert why in error["message"]
    assert ledger_state() == before


@pytest.mark.django_db
def test_the_dashboard_transfer_takes_a_grouped_amount(alice, accounts):
    main, savings = accounts
    node_id = main.wallet.node_id
    response = alice.web.post(
        f"/wallets/nodes/{node_id}/transfer/",
        {
            "source": str(main.pk),
            "destination": str(savings.pk),
            "amount": "12,345",
            "idempotency_key": str(uuid.uuid4()),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    savings.refresh_from_db()
    assert savings.posted_balance == 12345


@pytest.mark.django_db
def test_the_dashboard_transfer_refuses_an_exponent_and_moves_nothing(alice, accounts):
    main, savings = accounts
    before = ledger_state()
    response = alice.web.post(
        f"/wallets/nodes/{main.wallet.node_id}/transfer/",
        {
            "source": str(main.pk),
            "destination": str(savings.pk),
            "amount": "1e3",
            "idempotency_key": str(uuid.uuid4()),
        },
        HTTP_HX_REQUEST="true",
    )
    assert "exponent" in response.content.decode()
    assert ledger_state() == before


# --- One format for money and account numbers ---------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (123456789, "USD", "1,234,567.89"),
        (-5, "USD", "-0.05"),
        (1000000, "KRW", "1,000,000"),
        (1234, "JPY", "1,234"),
        (1, "BTC", "0.00000001"),
        ("1234567.8", "USD", "1,234,567.80"),  # a presenter's decimal string
        ("1000", "KRW", "1,000"),
    ],
)
def test_money_shows_the_currencys_decimals_and_separators(amount, currency, shown):
    assert money(amount, currency) == shown


def test_an_account_number_shows_one_way_with_its_bank():
    assert account_number("91234567890123", "088") == "088 9123-456789-012-3"
    assert account_number("1234567890", "004") == "004 1234567890"  # a bank's own format


def test_internal_names_read_as_words_and_odd_events_are_explained():
    assert labels.label("banknet.deposit_settle") == "Deposit settled"
    assert labels.transaction_label("hold_capture", "Deposit 1f2e") == "Deposit credited"
    assert labels.transaction_label("hold_capture", "Card payment 9") == "Card payment captured"
    assert "_" not in labels.label("some_new_kind")
    assert "holds its amount" in labels.explanation("hold.placed")
    assert labels.explanation("hold.captured")
