"""Check the books: what ``manage.py verify_ledger`` reports.

Independent of the posting code on purpose: it recomputes everything from the entries and
the holds, and compares with what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from sandbox.currencies import to_decimal_string
from wallets.models import Account, AccountDay, Entry, Hold, LedgerTransaction


@dataclass
class LedgerReport:
    transactions: int = 0
    accounts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_ledger() -> LedgerReport:
    report = LedgerReport(
        transactions=LedgerTransaction.objects.count(), accounts=Account.objects.count()
    )
    problems = report.problems
    uuids = {}

    def txn_label(txn_id: int) -> str:
        if txn_id not in uuids:
            uuids[txn_id] = (
                LedgerTransaction.objects.filter(pk=txn_id).values_list("uuid", flat=True).first()
            )
        return f"transaction {uuids[txn_id]} (#{txn_id})"

    # 1. Every transaction sums to zero per currency and has at least two entries.
    unbalanced = (
        Entry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("transaction_id")
    )
    for row in unbalanced:
        off = to_decimal_string(row["total"], row["currency"])
        problems.append(
            f"{txn_label(row['transaction_id'])} does not balance: {row['currency']} off by {off}"
        )
    thin = LedgerTransaction.objects.annotate(n=Count("entries")).filter(n__lt=2).order_by("id")
    for txn_id, count in thin.values_list("id", "n"):
        problems.append(f"{txn_label(txn_id)} has {count} entries; at least 2 are needed")
    mismatched = Entry.objects.exclude(currency=F("account__currency")).values_list(
        "transaction_id", "account_id"
    )
    for txn_id, account_id in mismatched:
        problems.append(f"{txn_label(txn_id)} books another currency on account {account_id}")

    # 2. Every stored balance equals what its entries and open holds say.
    posted = dict(
        Entry.objects.values("account_id").annotate(t=Sum("amount")).values_list("account_id", "t")
    )
    open_holds = Hold.objects.filter(status=Hold.Status.PENDING)
    held = dict(
        open_holds.filter(direction=Hold.Direction.DEBIT)
        .values("account_id")
        .annotate(t=Sum("amount"))
        .values_list("account_id", "t")
    )
    pending = dict(
        open_holds.filter(direction=Hold.Direction.CREDIT)
        .values("account_id")
        .annotate(t=Sum("amount"))
        .values_list("account_id", "t")
    )
    fields = (
        "id",
        "name",
        "currency",
        "posted_balance",
        "held_balance",
        "pending_balance",
        "allow_overdraft",
    )
    for account_id, name, currency, stored_posted, stored_held, stored_pending, overdraft in (
        Account.objects.order_by("id").values_list(*fields).iterator(chunk_size=5000)
    ):
        label = f"account {account_id} ({name}, {currency})"
        for what, stored, expected in (
            ("posted", stored_posted, posted.get(account_id, 0)),
            ("held", stored_held, held.get(account_id, 0)),
            ("pending", stored_pending, pending.get(account_id, 0)),
        ):
            if stored != expected:
                problems.append(
                    f"{label}: stored {what} balance {to_decimal_string(stored, currency)} but its "
                    f"{'entries' if what == 'posted' else 'open holds'} sum to "
                    f"{to_decimal_string(expected, currency)}"
                )
        if not overdraft and stored_posted - stored_held < 0:
            problems.append(f"{label}: available balance is negative")

    # 3. Every currency sums to zero over all accounts (platform accounts included).
    totals = Account.objects.values("currency").annotate(t=Sum("posted_balance")).exclude(t=0)
    for total in totals:
        problems.append(
            f"currency {total['currency']} does not sum to zero: "
            f"{to_decimal_string(total['t'], total['currency'])}"
        )
    # Holds are internally consistent too.
    for hold_id in Hold.objects.filter(
        ~Q(status=Hold.Status.CAPTURED), captured_amount__gt=0
    ).values_list("id", flat=True):
        problems.append(f"hold {hold_id} has a captured amount but is not captured")
    # 4. On PostgreSQL, the charts' daily roll-up adds up to the ledger it is kept from.
    if connection.vendor == "postgresql":
        problems.extend(_roll_up_problems())
    return report


def _roll_up_problems() -> list[str]:
    """Where ``AccountDay`` and the ledger disagree: an account's day (the sum of its
    entries) or a tenant's day (how many transactions moved its virtual accounts, and how
    much, in each transaction's currency), the days cut in ``TIME_ZONE``."""
    zone = timezone.get_current_timezone()
    rolled = AccountDay.objects.order_by()
    virtual = Entry.objects.filter(account__wallet__isnull=False).order_by()
    by_account = (
        virtual.annotate(day=TruncDate("posted_at", tzinfo=zone))
        .values_list("account_id", "day", "currency")
        .annotate(Sum("amount"))
    )
    rolled_by_account = rolled.values_list("account_id", "day", "currency").annotate(Sum("net"))
    moving = LedgerTransaction.objects.filter(
        Exists(virtual.filter(transaction=OuterRef("pk")))
    ).order_by()
    by_tenant = (
        moving.annotate(day=TruncDate("posted_at", tzinfo=zone))
        .values_list("tenant_id", "day", "currency")
        .annotate(Sum("amount"), Count("id"))
    )
    rolled_by_tenant = (
        rolled.filter(tenant_transactions__gt=0)
        .values_list("account__tenant_id", "day", "currency")
        .annotate(Sum("tenant_moved"), Sum("tenant_transactions"))
    )
    problems = []
    for what, ledger, roll_up in (
        ("account", by_account, rolled_by_account),
        ("tenant", by_tenant, rolled_by_tenant),
    ):
        expected = {tuple(row[:3]): tuple(row[3:]) for row in ledger}
        stored = {tuple(row[:3]): tuple(row[3:]) for row in roll_up}
        differing = {k for k in expected.keys() | stored.keys() if expected.get(k) != stored.get(k)}
        for key in sorted(differing, key=str):
            owner, day, currency = key
            problems.append(
                f"the roll-up of {what} {owner} on {day} in {currency} says "
                f"{stored.get(key, 'nothing')} but the ledger {expected.get(key, 'nothing')}"
            )
    return problems
