"""Request bodies: the largest valid bulk fits the upload limit, and a body past it gets the
API's error format (413 request_too_large), not Django's HTML page."""

import json
import uuid

import pytest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.test import RequestFactory, override_settings

from sandbox.currencies import CURRENCIES, MAX_MINOR_UNITS, to_decimal_string
from tests.helpers import error_code
from wallets.models import IdempotencyKey, LedgerTransaction
from wallets.services import MAX_BULK_TRANSFERS, MAX_METADATA_BYTES

MAX_MEMO_LENGTH = 500  # wallets.inputs.parse_transfer


def largest_valid_bulk_size() -> int:
    """The longest body a valid bulk has as ``json.dumps`` (Python's default, and
    ``requests``') writes it: every field at its limit, the memo in emoji, which it
    escapes as two \\uXXXX each (12 bytes for one character)."""
    amount = max((to_decimal_string(MAX_MINOR_UNITS, c) for c in CURRENCIES), key=len)
    padding = MAX_METADATA_BYTES - len(json.dumps({"k": ""}))
    item = {
        "source_account_id": str(uuid.uuid4()),
        "destination_account_id": str(uuid.uuid4()),
        "amount": amount,
        "currency": max(CURRENCIES, key=len),
        "memo": "\N{GRINNING FACE}" * MAX_MEMO_LENGTH,
        "metadata": {"k": "x" * padding},
        "conditions": {"source_available_at_least": amount, "source_lock_version": 2**63 - 1},
    }
    assert len(json.dumps(item["metadata"])) == MAX_METADATA_BYTES
    body = {"mode": "independent", "transfers": [item] * MAX_BULK_TRANSFERS}
    return len(json.dumps(body))


def test_the_upload_limit_fits_the_largest_valid_bulk_with_room_to_spare():
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit >= 1.2 * largest_valid_bulk_size()


def bulk(source, destination, count: int, memo: str) -> dict:
    item = {
        "source_account_id": str(source.pk),
        "destination_account_id": str(destination.pk),
        "amount": "1",
        "currency": "KRW",
        "memo": memo,
    }
    return {"mode": "atomic", "transfers": [item] * count}


@pytest.mark.django_db
def test_it_posts_8000_transfers_with_long_memos_past_djangos_default_limit(alice, accounts):
    main, savings = accounts
    body = bulk(main, savings, MAX_BULK_TRANSFERS, "m" * MAX_MEMO_LENGTH)
    assert len(json.dumps(body)) > 2.5 * 1024 * 1024  # Django's default limit
    response = alice.api.post(
        "/api/v1/transfers/bulk", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )
    assert response.status_code == 201, response.content[:500]
    assert response.json()["posted"] == MAX_BULK_TRANSFERS
    savings.refresh_from_db()
    assert savings.posted_balance == MAX_BULK_TRANSFERS


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_a_body_past_the_limit_gets_413_in_the_error_format_and_writes_nothing(alice, accounts):
    main, savings = accounts
    before = LedgerTransaction.objects.count()
    response = alice.api.post(
        "/api/v1/transfers/bulk",
        bulk(main, savings, 100, "m" * 100),
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert error_code(response) == "request_too_large"
    assert "10,000 bytes" in response.json()["error"]["message"]
    assert LedgerTransaction.objects.count() == before
    assert not IdempotencyKey.objects.exists()


def test_djangos_own_400s_under_api_are_in_the_error_format():
    from sandbox.urls import handler400

    request = RequestFactory().post("/api/v1/transfers/bulk")
    too_big = handler400(request, RequestDataTooBig("Request body exceeded the limit."))
    assert too_big.status_code == 413
    assert json.loads(too_big.content)["error"]["code"] == "request_too_large"
    other = handler400(RequestFactory().get("/api/v1/accounts"), Exception("bad"))
    assert other.status_code == 400
    assert json.loads(other.content)["error"]["code"] == "bad_request"
    page = handler400(RequestFactory().get("/wallets/"), Exception("bad"))
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_disallowed_host_under_api_answers_json(alice):
    response = alice.api.get("/api/v1/accounts", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert error_code(response) == "bad_request"


@pytest.mark.django_db
@override_settings(SANDBOX_MAX_BODY_BYTES=2048)
def test_only_the_bulk_endpoint_takes_large_bodies(alice, client):
    big = {"memo": "x" * 4096}
    api = alice.api.post("/api/v1/transfers", big, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    login = client.post("/login/", {"username": "a@example.com", "password": "x" * 4096})
    bulk = alice.api.post(
        "/api/v1/transfers/bulk",
        {"mode": "atomic", "transfers": [big]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k2",
    )
    assert (api.status_code, error_code(api)) == (413, "request_too_large")
    assert login.status_code == 413
    assert bulk.status_code == 400  # read and judged on its merits: the items are invalid
    assert not IdempotencyKey.objects.exists()
