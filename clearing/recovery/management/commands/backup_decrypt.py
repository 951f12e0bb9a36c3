"""``python manage.py backup_decrypt NAME OUTPUT``: a real restore's first step. Decrypts a
backup (a name in the backup storage, or a file path) into OUTPUT, the dump itself:
``pg_restore``'s custom format on PostgreSQL, the database file on SQLite. Checks the
cipher's tag and the dump's checksum; OUTPUT is removed when either fails."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clearing.recovery import archive
from clearing.recovery.archive import BackupError
from clearing.recovery.backup import backup_storage


class Command(BaseCommand):
    help = "Decrypt a backup into its dump (pg_restore custom format, or a SQLite file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("backup", help="A backup's name in the storage, or a file path.")
        parser.add_argument("output", type=Path)

    def _open(self, backup: str) -> IO[bytes]:
        path = Path(backup)
        if path.is_file():
            return path.open("rb")
        return backup_storage().open(backup, "rb")

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"]
        if output.exists():
            raise CommandError(f"{output} exists; give a new path.")
        try:
            with self._open(options["backup"]) as stream, output.open("wb") as out:
                manifest = archive.read(stream, out, name=options["backup"])
        except (BackupError, OSError) as exc:
            output.unlink(missing_ok=True)
            raise CommandError(str(exc)) from None
        database = manifest["database"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Decrypted {manifest['name']} ({database['vendor']}, {database['dump']}) "
                f"into {output}: tag and checksum hold."
            )
        )
