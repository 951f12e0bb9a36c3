"""Client input for money: its declarations, and the parsers that turn it into services'
arguments (amounts, transfers, holds).

The serializers below declare the inputs (the API documents them and accepts exactly their
keys: ``sandbox.api.views``); the parsers check the values by hand, because a serializer
per item would cost more than posting it. One parser for a single transfer and for each of
8,000 bulk items, so both refuse exactly the same things with the same codes, and accept
exactly the keys of ``TransferInput``. Amounts are decimal strings with their currency;
anything outside ``sandbox.currencies.AMOUNT_GRAMMAR`` is refused (numbers, floats above all,
signs, exponents, spaces), as are more decimals than the currency has, zero and values past
``MAX_MINOR_UNITS``.

People type amounts into the dashboard's forms: ``parse_typed_amount`` lets them group
digits by three ("1,000", "1 000") and surround the amount with spaces, removes that, and
hands the digits to the same strict parser; everything else the API refuses (exponents,
signs, underscores, non-ASCII digits) a form refuses too, saying why.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sandbox import writebehind
from sandbox.api.views import declared_fields, refuse_unknown
from sandbox.currencies import (
    AMOUNT_GRAMMAR,
    AmountError,
    CurrencyCode,
    amount_fault,
    get_currency,
    to_minor_units,
)
from sandbox.db.postgresql.prepared import prepared
from sandbox.errors import ApplicationError, NotFound
from sandbox.rows import RowLoader
from sandbox.tenants.models import Tenant
from wallets import selectors
from wallets.locking import Statement
from wallets.models import Account
from wallets.services import TransferRequest

CURRENCY_HELP = "One of " + ", ".join(CurrencyCode.values) + "."
AMOUNT_HELP = (
    'A decimal string with at most the currency\'s decimals, e.g. "12.34"; never a number. '
    "ASCII digits, at most one point with a digit on each side; no sign, exponent, space, "
    'underscore or leading zero ("0.50" is fine).'
)


# The schema states the grammar ``to_minor_units`` enforces (the currency's decimals and
# the range are the server's to judge).
@extend_schema_field({"type": "string", "pattern": f"^{AMOUNT_GRAMMAR.pattern}$"})
class AmountField(serializers.Field):
    """An amount as the client sent it, for ``parse_amount`` to judge with its currency: a
    ``CharField`` would turn the JSON number ``100`` into ``"100"`` and let numbers through
    that ``/api/v1/transfers`` refuses (``invalid_amount``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", AMOUNT_HELP)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class ConditionsInput(serializers.Serializer):
    source_available_at_least = AmountField(
        required=False, help_text="Refuse (422) unless the source keeps at least this available."
    )
    source_lock_version = serializers.IntegerField(
        required=False, help_text="Refuse (422) unless the source's lock_version is still this."
    )


class TransferInput(serializers.Serializer):
    source_account_id = serializers.UUIDField()
    destination_account_id = serializers.UUIDField()
    amount = AmountField()
    currency = serializers.CharField(help_text=CURRENCY_HELP)
    memo = serializers.CharField(required=False, max_length=500)
    metadata = serializers.JSONField(required=False)
    conditions = ConditionsInput(required=False)


TRANSFER_FIELDS = declared_fields(TransferInput)
CONDITION_FIELDS = declared_fields(ConditionsInput)


def invalid(field: str, message: str, code: str = "validation_error") -> ApplicationError:
    return ApplicationError(message, code=code, fields={field: [message]})


def require_object(data: Any, what: str = "The body") -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ApplicationError(f"{what} must be a JSON object.", code="invalid_body")
    return data


def parse_currency(value: Any, field: str = "currency") -> str:
    if value is None or value == "":
        raise invalid(field, "This field is required.", code="required")
    try:
        return get_currency(value).code
    except AmountError as error:
        raise invalid(field, error.message, code=error.code) from None


def parse_amount(
    value: Any, currency: str, field: str = "amount", *, allow_zero: bool = False
) -> int:
    if value is None:
        raise invalid(field, "This field is required.", code="required")
    try:
        if value.__class__ is str and currency.__class__ is str:
            return _minor_units(value, currency, allow_zero)
        return to_minor_units(value, currency, allow_zero=allow_zero)
    except AmountError as error:
        raise invalid(field, error.message, code=error.code) from None


@functools.lru_cache(maxsize=1024)
def _minor_units(text: str, currency: str, allow_zero: bool) -> int:
    # A bulk's 8,000 amounts repeat ("1", "10.00"): each text is judged once. Only the
    # answers are kept (a refusal raises, every time), and they depend on nothing else.
    return to_minor_units(text, currency, allow_zero=allow_zero)


# Digits grouped by three with one kind of separator (comma, space, no-break space, narrow
# no-break space), then an optional decimal point: what people type and read.
TYPED_GROUPS = re.compile(r"[0-9]{1,3}(?:(?P<sep>[, \u00a0\u202f])[0-9]{3})?(?:(?P=sep)[0-9]{3})*")
TYPED_HELP = 'Type the amount with digits 0-9 and a point for decimals, e.g. "1,000" or "12.50".'


def typed_amount(value: Any, field: str = "amount") -> str:
    """An amount a person typed, as the API's grammar: spaces around it and separators
    between groups of three digits removed. Refused with the reason (``invalid_amount``):
    what is not a group of three, and whatever the API refuses."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(field, "This field is required.", code="required")
    text = value.strip()
    whole, point, fraction = text.partition(".")
    if TYPED_GROUPS.fullmatch(whole) and (not point or fraction.isascii()):
        text = re.sub(r"[, \u00a0\u202f]", "", whole) + point + fraction
    elif any(c in ", \u00a0\u202f" for c in whole) and not amount_fault(
        re.sub(r"[, \u00a0\u202f]", "", whole)
    ):
        message = "Group the digits by three with one kind of separator: 1,000 or 1 000."
        raise invalid(field, message, code="invalid_amount")
    fault = amount_fault(text)
    if fault:
        message = f"{value.strip()[:40]!r} is not an amount: {fault}. {TYPED_HELP}"
        raise invalid(field, message, code="invalid_amount")
    return text


def parse_typed_amount(
    value: Any, currency: str, field: str = "amount", *, allow_zero: bool = False
) -> int:
    """``parse_amount`` for an amount a person typed into a form (``typed_amount``)."""
    return parse_amount(typed_amount(value, field), currency, field, allow_zero=allow_zero)


def refuse_null_characters(value: Any, field: str) -> None:
    """Refuse NUL anywhere in ``value``: in a string, or in a key or a string of nested
    objects and lists. PostgreSQL stores it neither in text nor (as ``\\u0000``) in jsonb,
    so it would fail at INSERT; DRF's fields refuse it the same way. A loop, not
    recursion: JSON nests deep."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)  # the keys
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and "\x00" in item:
            raise invalid(field, selectors.NULL_CHARACTERS, code="null_characters_not_allowed")


def parse_string(
    data: Mapping[str, Any], field: str, *, max_length: int, required: bool = False
) -> str:
    value = data.get(field)
    if value is None:
        if required:
            raise invalid(field, "This field is required.", code="required")
        return ""
    if not isinstance(value, str):
        raise invalid(field, "Must be a string.")
    if len(value) > max_length:
        raise invalid(field, f"At most {max_length} characters.")
    refuse_null_characters(value, field)
    return value


def parse_metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    metadata = data.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise invalid("metadata", "Must be a JSON object.", code="invalid_metadata")
    refuse_null_characters(metadata, "metadata")
    return metadata


def parse_datetime_field(data: Mapping[str, Any], field: str) -> datetime | None:
    value = data.get(field)
    if value in (None, ""):
        return None
    try:
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            raise invalid(field, "An ISO 8601 date-time, such as 2026-01-31T09:00:00+09:00.")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return selectors.real_moment(moment)
    except (ValueError, OverflowError):
        # Well-formed but impossible (2026-02-30, hour 24, offset +25:00, year 10000).
        raise invalid(field, selectors.impossible_moment_message(value)) from None


def lookup_account(accounts: Mapping[str, Account], value: Any, field: str) -> Account:
    if value is None or value == "":
        raise invalid(field, "This field is required.", code="required")
    account = accounts.get(str(value))
    if account is None:
        # Another tenant's account is as absent as one that does not exist.
        raise NotFound(
            f"No account with id {value}.",
            code="account_not_found",
            fields={field: ["No such account."]},
        )
    return account


_ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]
_account_from_row = RowLoader(Account, _ACCOUNT_FIELDS)
_ACCOUNTS_SQL = prepared(
    "transfer_accounts",
    "SELECT {} FROM {} WHERE {} = %(tenant)s AND id = ANY(%(ids)s::uuid[])".format(
        ", ".join(str(f.column) for f in Account._meta.concrete_fields),
        Account._meta.db_table,
        Account._meta.get_field("tenant").column,
    ),
)


def accounts_by_id(*, tenant: Tenant, ids: set[Any]) -> dict[str, Account]:
    """``selectors.accounts_by_id`` (the tenant's accounts among ``ids``, by id as a
    string), with its SQL written once on PostgreSQL: every transfer request asks, and the
    ORM's rebuilding of the query cost more CPU than the query."""
    if connection.vendor != "postgresql":
        return selectors.accounts_by_id(tenant=tenant, ids=ids)
    found: dict[str, Account] = {}
    statement = accounts_statement(tenant=tenant, ids=ids, into=found)
    if statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(writebehind.bind(statement.sql, statement.params))
            statement.done(cursor.fetchall())
    return found


def accounts_statement(
    *, tenant: Tenant, ids: set[Any], into: dict[str, Account]
) -> Statement | None:
    """On PostgreSQL, the statement of ``accounts_by_id``, which puts what it reads into
    ``into``: for a caller that sends it along with another (the idempotency claim). None
    when no id is valid, or elsewhere than on PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    valid = []
    for raw in ids:
        try:
            valid.append(UUID(str(raw)))
        except ValueError:
            continue
    if not valid:
        return None

    def done(rows: list[tuple[Any, ...]]) -> None:
        into.update((str(row[0]), _account_from_row(row)) for row in rows)

    return Statement(_ACCOUNTS_SQL, {"tenant": tenant.pk, "ids": valid}, done)


def transfer_account_ids(data: Any) -> list[str]:
    if not isinstance(data, Mapping):
        return []
    return [str(data[f]) for f in ("source_account_id", "destination_account_id") if data.get(f)]


def parse_transfer(data: Any, accounts: Mapping[str, Account]) -> TransferRequest:
    """A transfer from JSON; ``accounts`` are the tenant's accounts by id (as strings)."""
    data = require_object(data, "A transfer")
    refuse_unknown(data, TRANSFER_FIELDS)
    currency = parse_currency(data.get("currency"))
    amount = parse_amount(data.get("amount"), currency)
    memo = parse_string(data, "memo", max_length=500)
    metadata = parse_metadata(data)
    available_at_least = lock_version = None
    if data.get("conditions") is not None:
        conditions = require_object(data["conditions"], "conditions")
        refuse_unknown(conditions, CONDITION_FIELDS)
        if conditions.get("source_available_at_least") is not None:
            available_at_least = parse_amount(
                conditions["source_available_at_least"],
                currency,
                "conditions.source_available_at_least",
                allow_zero=True,
            )
        if conditions.get("source_lock_version") is not None:
            lock_version = conditions["source_lock_version"]
            if (
                not isinstance(lock_version, int)
                or isinstance(lock_version, bool)
                or lock_version < 0
            ):
                raise invalid("conditions.source_lock_version", "A non-negative integer.")
    source = lookup_account(accounts, data.get("source_account_id"), "source_account_id")
    destination = lookup_account(
        accounts, data.get("destination_account_id"), "destination_account_id"
    )
    return TransferRequest(
        source=source,
        destination=destination,
        amount=amount,
        currency=currency,
        memo=memo,
        metadata=metadata or None,  # none given: the service skips measuring it
        available_at_least=available_at_least,
        lock_version=lock_version,
    )
