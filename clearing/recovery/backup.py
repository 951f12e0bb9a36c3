"""``backup_create``: a consistent, encrypted logical backup of the whole database, kept
in a folder or any Django storage, and retention (the newest ``SANDBOX_BACKUP_KEEP``).

PostgreSQL: ``pg_dump`` (custom format) of a snapshot exported by a REPEATABLE READ
transaction, in which the manifest's facts are read too, so both describe the same
instant while the sandbox keeps writing. SQLite: the sqlite3 online backup API, in the same
read transaction as the facts.
"""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import connection, transaction

from clearing.recovery import archive, pgtools
from clearing.recovery.archive import BackupError
from clearing.recovery.facts import snapshot_facts

PREFIX = "fsbx-backup-"
SUFFIX = ".fsbx"


def backup_storage() -> Storage:
    """``SANDBOX_BACKUP_STORAGE`` names a Django storage (an alias of ``STORAGES``);
    without it, the folder ``SANDBOX_BACKUP_DIR``."""
    alias = getattr(settings, "SANDBOX_BACKUP_STORAGE", "")
    if alias:
        return storages[alias]
    return FileSystemStorage(location=settings.SANDBOX_BACKUP_DIR)


def backup_names(storage: Storage | None = None) -> list[str]:
    """The backups in the storage, newest first (names start with their UTC time)."""
    storage = storage or backup_storage()
    try:
        _, files = storage.listdir("")
    except FileNotFoundError:
        return []
    return sorted((f for f in files if f.startswith(PREFIX) and f.endswith(SUFFIX)), reverse=True)


@dataclass
class BackupResult:
    name: str
    size: int
    manifest: dict[str, Any]
    removed: list[str] = field(default_factory=list)


def _dump(target: Path) -> dict[str, Any]:
    if connection.in_atomic_block:
        raise BackupError("A backup needs its own transaction: run it outside of one.")
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            # The first statement of the transaction: the snapshot pg_dump will share.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            facts = snapshot_facts()
            pgtools.dump(snapshot=snapshot, target=target)
        database = {
            "vendor": "postgresql",
            "dump": "pg_dump-custom",
            "server_version": connection.pg_version,  # type: ignore[attr-defined]
        }
        return {"database": database, **facts}
    if connection.vendor == "sqlite":
        # A read transaction of our own (not Django's atomic(), which is BEGIN IMMEDIATE, a
        # write lock the backup API refuses to copy under): the facts and the copy see one
        # snapshot (WAL), and writers go on meanwhile.
        connection.ensure_connection()
        raw = connection.connection
        raw.execute("BEGIN DEFERRED")
        try:
            facts = snapshot_facts()
            copy = sqlite3.connect(target)
            try:
                raw.backup(copy)
            finally:
                copy.close()
        finally:
            raw.execute("COMMIT")
        database = {"vendor": "sqlite", "dump": "sqlite3-backup", "server_version": None}
        return {"database": database, **facts}
    raise BackupError(f"Backups support PostgreSQL and SQLite, not {connection.vendor}.")


def backup_create(*, keep: int | None = None, storage: Storage | None = None) -> BackupResult:
    """Write a new backup, then delete all but the newest ``keep`` (``SANDBOX_BACKUP_KEEP``)."""
    storage = storage or backup_storage()
    archive.backup_keys()  # no key: fail before dumping anything
    now = datetime.now(UTC)
    name = f"{PREFIX}{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}{SUFFIX}"
    with tempfile.TemporaryDirectory(prefix="fsbx-backup-") as tmp:
        dump_path, out_path = Path(tmp) / "dump", Path(tmp) / "backup"
        manifest = {"name": name, "created_at": now.isoformat(), **_dump(dump_path)}
        with dump_path.open("rb") as dump, out_path.open("wb") as out:
            manifest = archive.write(manifest, dump, out)
        dump_path.unlink()
        size = out_path.stat().st_size
        with out_path.open("rb") as out:
            saved = storage.save(name, File(out, name=name))
    if saved != name:
        raise BackupError(f"The storage saved the backup as {saved!r}, not {name!r}.")
    removed = backup_prune(keep=keep, storage=storage)
    return BackupResult(name=name, size=size, manifest=manifest, removed=removed)


def backup_prune(*, keep: int | None = None, storage: Storage | None = None) -> list[str]:
    storage = storage or backup_storage()
    keep = keep if keep is not None else settings.SANDBOX_BACKUP_KEEP
    old = backup_names(storage)[max(keep, 1) :]
    for name in old:
        storage.delete(name)
    return old
