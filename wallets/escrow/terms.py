"""An escrow's terms as one canonical JSON document, and their SHA-256 hash.

The terms are a JSON object of strings and integers only (amounts as decimal strings,
times as UTC ``YYYY-MM-DDTHH:MM:SSZ``), serialised with the JSON Canonicalization Scheme
(RFC 8785, the ``rfc8785`` library): keys sorted, no whitespace, one spelling per value.
Anyone holding the terms recomputes the hash with any JCS implementation and SHA-256.
The hash is written into the metadata of every ledger hold that holds the escrow's money,
which binds the hold to exactly these terms (docs/escrow.md).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import rfc8785

from sandbox.currencies import to_decimal_string

TERMS_VERSION = 1
BPS = 10_000


def moment(value: datetime) -> str:
    """A time as the terms spell it: UTC, whole seconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def escrow_terms(
    *,
    escrow_id: str,
    payer_account_id: str,
    payee_account_id: str,
    amount: int,
    currency: str,
    release_condition: str,
    on_timeout: str,
    created_at: datetime,
    timeout_at: datetime,
    dispute_window_ends_at: datetime,
    fee_rate_bps: int,
    fixed_fee: int,
    description: str,
) -> dict[str, Any]:
    return {
        "version": TERMS_VERSION,
        "escrow_id": escrow_id,
        "payer_account_id": payer_account_id,
        "payee_account_id": payee_account_id,
        "amount": to_decimal_string(amount, currency),
        "currency": currency,
        "release_condition": release_condition,
        "on_timeout": on_timeout,
        "created_at": moment(created_at),
        "timeout_at": moment(timeout_at),
        "dispute_window_ends_at": moment(dispute_window_ends_at),
        "fee": {
            "rate_bps": fee_rate_bps,
            "fixed": to_decimal_string(fixed_fee, currency),
            "charged_to": "payee",
        },
        "description": description,
    }


def canonical(terms: dict[str, Any]) -> bytes:
    return rfc8785.dumps(terms)


def terms_hash(terms: dict[str, Any]) -> str:
    """The lowercase hex SHA-256 of the canonical terms."""
    return hashlib.sha256(canonical(terms)).hexdigest()


def release_fee(*, amount: int, fee_rate_bps: int, fixed_fee: int, first_release: bool) -> int:
    """The fee on releasing ``amount`` minor units: ``fee_rate_bps`` of it, rounded down,
    plus the fixed fee on the escrow's first release only; never more than ``amount``."""
    fee = amount * fee_rate_bps // BPS + (fixed_fee if first_release else 0)
    return min(fee, amount)
