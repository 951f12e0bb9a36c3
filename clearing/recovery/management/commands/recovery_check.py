"""``python manage.py recovery_check --manifest M``: the checks ``restore_drill`` runs in
the restored scratch database (its DATABASE_URL); prints one JSON line. Run it by hand only
against a restored copy: it migrates the database it is pointed at."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from clearing.recovery.restored import check_restored


class Command(BaseCommand):
    help = "Check a restored database against its backup's manifest (used by restore_drill)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--manifest", required=True, type=Path)
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        manifest = json.loads(options["manifest"].read_text())
        result = check_restored(manifest, migrate=not options["no_migrate"])
        self.stdout.write(json.dumps(result))
