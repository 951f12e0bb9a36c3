"""``python manage.py restore_drill``: restore the newest backup (or ``--backup NAME``)
into a scratch database, check it there, report RTO and RPO; exit 1 on any mismatch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearing.recovery.drill import drill_run


class Command(BaseCommand):
    help = (
        "Restore the newest backup into a scratch database; run verify_ledger, recompute "
        "every closed day's Merkle root against the anchor chain and its OpenTimestamps "
        "proof, check that record keys unwrap; report RTO and RPO."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backup", default=None, help="A backup's name (default: newest).")

    def handle(self, *args: Any, **options: Any) -> None:
        report = drill_run(triggered_by="command", name=options["backup"])
        run = report.run
        self.stdout.write(f"backup:        {run.backup_name or '—'}")
        if run.restore_seconds is not None:
            self.stdout.write(f"RTO (restore): {run.restore_seconds:.1f} s")
        if run.check_seconds is not None:
            self.stdout.write(f"checks:        {run.check_seconds:.1f} s")
        if run.rpo_seconds is not None:
            self.stdout.write(
                f"RPO:           {run.rpo_seconds:.0f} s (newest restored transaction "
                f"{run.newest_transaction_at:%Y-%m-%d %H:%M:%S %Z})"
            )
        if run.summary:
            self.stdout.write(f"checked:       {run.summary}")
        for problem in run.problem_lines:
            self.stderr.write(problem)
        if not report.ok:
            raise CommandError(
                f"The restore drill FAILED: {len(run.problem_lines)} mismatch(es) in "
                f"{run.backup_name or 'no backup'}."
            )
        self.stdout.write(self.style.SUCCESS("The restore drill passed: the restored books match."))
