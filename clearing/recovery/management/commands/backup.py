"""``python manage.py backup``: write an encrypted, compressed logical backup with its
manifest to ``SANDBOX_BACKUP_DIR`` (or the storage ``SANDBOX_BACKUP_STORAGE``), then keep
the newest ``SANDBOX_BACKUP_KEEP``. docs/operations.md says what else to keep."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearing.recovery.archive import BackupError
from clearing.recovery.backup import backup_create


class Command(BaseCommand):
    help = "Write an encrypted (AES-256-GCM), compressed logical backup of the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keep", type=int, default=None, help="Backups to keep (SANDBOX_BACKUP_KEEP)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = backup_create(keep=options["keep"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = result.manifest
        txn = manifest.get("newest_transaction") or {}
        day = manifest.get("last_closed_day") or {}
        self.stdout.write(f"backup:             {result.name} ({result.size:,} bytes)")
        self.stdout.write(f"dump sha256:        {manifest['dump']['sha256']}")
        self.stdout.write(
            f"newest transaction: {txn.get('uuid', '—')} (#{txn.get('id', '—')}, "
            f"{txn.get('posted_at', '—')})"
        )
        self.stdout.write(f"last closed day:    {day.get('day', '—')} root {day.get('root', '—')}")
        for name in result.removed:
            self.stdout.write(f"removed (retention): {name}")
        self.stdout.write(self.style.SUCCESS(f"Backup written: {result.name}."))
