"""``python manage.py rotate_record_keys``: re-wrap every record key under the first key of
``CLEARING_MASTER_KEY``; exit 1 when a key cannot be unwrapped (each is named)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearing import keys


class Command(BaseCommand):
    help = (
        "Re-wrap every encrypted record key under the first key of CLEARING_MASTER_KEY, in "
        "batches (each its own transaction); keys already under it are skipped, so an "
        "interrupted run resumes where it stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=keys.ROTATE_BATCH)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        primary = keys.keyring().primary
        self.stdout.write(f"Re-wrapping record keys under key {primary}.")
        result = keys.rotate(batch=options["batch"], progress=self.stdout.write)
        for failure in result.failures:
            self.stderr.write(failure)
        if result.failures:
            raise CommandError(
                f"{len(result.failures)} record key(s) cannot be unwrapped by the keyring "
                f"(re-wrapped {result.rewrapped}): add the key they were wrapped under to "
                "CLEARING_MASTER_KEY, or restore the SECRET_KEY they were made under."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Re-wrapped {result.rewrapped} record key(s) under {primary}.")
        )
