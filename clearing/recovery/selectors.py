from __future__ import annotations

from dataclasses import dataclass

from clearing.recovery.archive import BackupError
from clearing.recovery.backup import backup_names, backup_storage
from clearing.recovery.models import DrillRun


def drills_recent(*, limit: int) -> list[DrillRun]:
    return list(DrillRun.objects.order_by("-started_at", "-id")[:limit])


def drill_last() -> DrillRun | None:
    return DrillRun.objects.order_by("-started_at", "-id").first()


@dataclass(frozen=True)
class BackupOnHand:
    name: str
    size: int | None


def backups_on_hand() -> list[BackupOnHand] | None:
    """The backups in the storage, newest first; None when the storage cannot be read."""
    try:
        storage = backup_storage()
        return [BackupOnHand(n, storage.size(n)) for n in backup_names(storage)]
    except (OSError, BackupError):
        return None
