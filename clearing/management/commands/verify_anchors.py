"""``python manage.py verify_anchors``: exit 0 when every closed day and test clock close
still matches its anchor, and every encrypted record's key unwraps under the keyring and the
record opens; 1 otherwise (each changed, removed or inserted ledger row, and each key or
record that does not open, is listed)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from clearing.verification import verify_anchors


class Command(BaseCommand):
    help = (
        "Recompute every closed day's Merkle root from the ledger and check it, and the whole "
        "anchor chain (hashes, proof of work, links, OP_RETURN), against the anchors; check that "
        "every record key unwraps under CLEARING_MASTER_KEY and every encrypted record opens."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_anchors()
        for problem in report.problems:
            self.stderr.write(str(problem))
        summary = report.summary
        if not report.ok:
            raise CommandError(
                f"Anchors do NOT match: {len(report.problems)} problem(s) in {summary}."
            )
        self.stdout.write(self.style.SUCCESS(f"All anchors match: {summary}."))
