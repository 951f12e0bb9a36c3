"""What the ledger says about many subjects at once: aggregate SQL over ``Entry`` and
``LedgerTransaction``, grouped by subject, never a Python loop over entries.

A subject's accounts are the tenant's virtual accounts (kind ``customer``) of one group:
a node's are its wallet's (``wallet__node_id``); a person's are the accounts of their
tenant carrying their ``customer_reference``. For a batch of subjects as of one moment,
two queries: one over the accounts (count, oldest), one over the entries, grouped by
subject and currency. Both are bounded by the moment (what was posted at it counts), so a
past day is read as it was.

Ledger times are platform time (``wallets.posting`` dates entries by the platform clock).
A subject on a test clock is read as of its clock's time: a clock ahead of the ledger
sees its history age, a clock behind sees only what was posted before its time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, Q, Sum

from wallets.credit.scoring import (
    INCOME_MONTHS,
    MONTH_DAYS,
    RETURNS_WINDOW_DAYS,
    CurrencyFigures,
    Metrics,
)
from wallets.models import Account, Entry

# Ledger transaction kinds that undo an earlier payment: a reversal (a return of a bank
# transfer is posted as one, or as ``withdrawal_return`` when the account is closed), and
# refunds of push payments and card payments. Either side of one counts as a return.
RETURN_KINDS = ("reversal", "withdrawal_return", "payment_refund", "card_refund")
INFLOW_WINDOW_DAYS = INCOME_MONTHS * MONTH_DAYS


@dataclass(frozen=True)
class Grouping:
    """How accounts group into subjects: Account fields whose values name a subject."""

    fields: tuple[str, ...]

    def key(self, row: dict[str, Any], prefix: str = "") -> tuple[Any, ...]:
        return tuple(row[prefix + name] for name in self.fields)


BY_NODE = Grouping(("wallet__node_id",))
BY_PERSON = Grouping(("tenant_id", "customer_reference"))


def node_accounts_filter(node_ids: Iterable[Any]) -> Q:
    return Q(wallet__node_id__in=list(node_ids))


def person_accounts_filter(references: Iterable[tuple[Any, str]]) -> Q:
    """Accounts of (tenant id, customer reference) pairs; empty references match nothing."""
    by_tenant: dict[Any, list[str]] = {}
    for tenant_id, reference in references:
        if reference:
            by_tenant.setdefault(tenant_id, []).append(reference)
    condition = Q(pk__in=[])
    for tenant_id, refs in by_tenant.items():
        condition |= Q(tenant_id=tenant_id, customer_reference__in=refs)
    return condition


def ledger_metrics(
    grouping: Grouping, accounts: Q, as_of: datetime
) -> dict[tuple[Any, ...], Metrics]:
    """Metrics of every subject whose accounts match ``accounts`` as of ``as_of`` (a moment
    of ledger time: entries posted until then count), keyed by ``grouping``. Subjects
    without an account opened by ``as_of`` are absent (``Metrics()`` applies)."""
    customer = Account.objects.filter(accounts, kind=Account.Kind.CUSTOMER, created_at__lte=as_of)
    opened = (
        customer.order_by()
        .values(*grouping.fields)
        .annotate(count=Count("id"), first=Min("created_at"))
    )
    figures: dict[tuple[Any, ...], dict[str, Any]] = {
        grouping.key(row): {"count": row["count"], "first": row["first"], "currencies": []}
        for row in opened
    }
    if not figures:
        return {}
    entry_fields = tuple(f"account__{name}" for name in grouping.fields)
    # A credit moved from another account of the same subject is not income.
    own_debit = Entry.objects.filter(
        transaction_id=OuterRef("transaction_id"),
        amount__lt=0,
        **{field: OuterRef(field) for field in entry_fields},
    )
    incoming = (
        Q(amount__gt=0)
        & ~Q(transaction__kind__in=RETURN_KINDS)
        & ~Q(Exists(own_debit))
        & Q(posted_at__gte=as_of - timedelta(days=INFLOW_WINDOW_DAYS))
    )
    months = {
        f"month_{i}": Count(
            "id",
            filter=incoming
            & Q(posted_at__gte=as_of - timedelta(days=MONTH_DAYS * (i + 1)))
            & (Q(posted_at__lt=as_of - timedelta(days=MONTH_DAYS * i)) if i else Q()),
        )
        for i in range(INCOME_MONTHS)
    }
    rows = (
        Entry.objects.filter(account__in=customer.values("pk"), posted_at__lte=as_of)
        .order_by()
        .values(*entry_fields, "currency")
        .annotate(
            balance=Sum("amount"),
            inflow=Sum("amount", filter=incoming),
            returns=Count(
                "transaction_id",
                distinct=True,
                filter=Q(transaction__kind__in=RETURN_KINDS)
                & Q(posted_at__gte=as_of - timedelta(days=RETURNS_WINDOW_DAYS)),
            ),
            **months,
        )
    )
    for row in rows:
        found = figures.get(grouping.key(row, "account__"))
        if found is None:  # an entry on an account opened after as_of: cannot be
            continue
        found["currencies"].append(row)
    return {key: _metrics(found, as_of) for key, found in figures.items()}


def _metrics(found: dict[str, Any], as_of: datetime) -> Metrics:
    rows: Sequence[dict[str, Any]] = found["currencies"]
    monthly = tuple(sum(row[f"month_{i}"] for row in rows) for i in range(INCOME_MONTHS))
    return Metrics(
        account_count=found["count"],
        account_age_days=(as_of - found["first"]).days,
        monthly_credits=monthly,
        returns_180d=sum(row["returns"] for row in rows),
        currencies=tuple(
            CurrencyFigures(row["currency"], row["balance"] or 0, row["inflow"] or 0)
            for row in sorted(rows, key=lambda row: row["currency"])
        ),
    )
