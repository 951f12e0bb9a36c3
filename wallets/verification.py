"""Check the books: what ``manage.py verify_ledger`` reports.

Independent of the posting code on purpose: it recomputes everything from the entries and
the holds, and compares with what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, Q, Sum

from sandbox.currencies import to_decimal_string
from wallets.models import Account, Entry, Hold, LedgerTransaction


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
    return report
