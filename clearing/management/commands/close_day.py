"""``python manage.py close_day [--date YYYY-MM-DD]``: close a day now (yesterday by default).

Safe to run twice, or beside the scheduled close: the day is claimed once; a second run
reports it closed. Exit 0 when the day is closed, 1 otherwise."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearing import closing
from clearing.encoding import today
from sandbox.errors import ApplicationError


class Command(BaseCommand):
    help = "Close a day's ledger (default: yesterday in the clearing time zone) and anchor it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=date.fromisoformat, help="The day, YYYY-MM-DD.")

    def handle(self, *args: Any, **options: Any) -> None:
        day = options["date"] or today() - timedelta(days=1)
        try:
            outcome = closing.close_day(day=day, triggered_by="manage.py close_day")
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        close = outcome.close
        if outcome.result in ("closed", "already_closed") and close.anchor is not None:
            verb = "Closed" if outcome.result == "closed" else "Already closed:"
            self.stdout.write(
                self.style.SUCCESS(
                    f"{verb} {close.day}: {close.leaf_count} transactions, root {close.root}, "
                    f"block {close.anchor.height} ({close.anchor.block_hash})."
                )
            )
            return
        if outcome.result == "busy":
            raise CommandError(f"{outcome.day} is being closed by another worker; try later.")
        raise CommandError(f"The close of {outcome.day} failed: {outcome.note}")
