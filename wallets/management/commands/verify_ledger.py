"""``python manage.py verify_ledger``: exit 0 when the books are right, 1 otherwise."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from wallets.verification import verify_ledger


class Command(BaseCommand):
    help = (
        "Check that every ledger transaction balances, every stored balance equals the sum of "
        "its entries (and open holds), every currency sums to zero, and (on PostgreSQL) the "
        "charts' daily roll-up adds up to the ledger."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_ledger()
        for problem in report.problems:
            self.stderr.write(problem)
        summary = f"{report.transactions} transactions, {report.accounts} accounts"
        if not report.ok:
            raise CommandError(
                f"The ledger is NOT consistent: {len(report.problems)} problem(s) in {summary}."
            )
        self.stdout.write(self.style.SUCCESS(f"The ledger is consistent: {summary}."))
