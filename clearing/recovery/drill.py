"""``drill_run``: restore the newest backup into a scratch database, check it there, and
record the result (``DrillRun``).

The scratch database: on PostgreSQL a new database on the same server (created, restored
with ``pg_restore``, dropped at the end); on SQLite a temporary file. The checks run in a
child process whose ``DATABASE_URL`` is the scratch copy (``recovery_check``): the
platform's verifiers read the restored rows, and nothing in this process is re-pointed.
The child gets this process's ``SECRET_KEY`` and ``CLEARING_MASTER_KEY``: whether the
restored record keys unwrap is whether the keys kept beside the backups are the right ones.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from clearing.recovery import archive, pgtools
from clearing.recovery.archive import BackupError
from clearing.recovery.backup import backup_names, backup_storage
from clearing.recovery.models import DrillRun

CHECK_TIMEOUT_SECONDS = 6 * 3600


@dataclass
class Scratch:
    database_url: str
    drop: Callable[[], None] = field(default=lambda: None)


def restore_scratch(manifest: dict[str, Any], dump: Path, folder: Path) -> Scratch:
    vendor = manifest["database"]["vendor"]
    if vendor != connection.vendor:
        raise BackupError(
            f"The backup is of a {vendor} database; this sandbox runs on {connection.vendor}."
        )
    if vendor == "sqlite":
        return Scratch(database_url=f"sqlite:///{dump}")
    name = f"{connection.settings_dict['NAME']}"[:40] + f"_drill_{secrets.token_hex(4)}"
    pgtools.create_database(name)
    try:
        pgtools.restore(source=dump, name=name)
    except BaseException:
        pgtools.drop_database(name)
        raise
    return Scratch(pgtools.database_url(name), drop=lambda: pgtools.drop_database(name))


def _child_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "SECRET_KEY", "CLEARING_MASTER_KEY"):
        env.pop(f"{name}_FILE", None)  # a _FILE variant would win over the values below
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "sandbox.settings",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(settings.BASE_DIR), env.get("PYTHONPATH", "")) if p
            ),
            "DEBUG": "true" if settings.DEBUG else "false",
            "SECRET_KEY": str(settings.SECRET_KEY),
            "CLEARING_MASTER_KEY": ",".join(settings.CLEARING_MASTER_KEY),
            "CELERY_TASK_ALWAYS_EAGER": "true",  # the checks send no task; never to the live broker
        }
    )
    return env


def check_scratch(database_url: str, manifest_path: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "django", "recovery_check", "--manifest", str(manifest_path)]
    try:
        done = subprocess.run(
            command,
            env=_child_env(database_url),
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"The checks of the restored database did not run: {exc}") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " / ".join(done.stderr.strip().splitlines()[-5:])
        raise BackupError(f"The checks of the restored database crashed: {tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@dataclass
class DrillReport:
    run: DrillRun
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.run.status == DrillRun.Status.PASSED


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def drill_run(*, triggered_by: str, name: str | None = None) -> DrillReport:
    """Restore backup ``name`` (the newest when None) and check it; a ``DrillRun`` records
    the result whatever happens (a missing backup or a wrong key is a failed drill)."""
    run = DrillRun(started_at=timezone.now(), triggered_by=triggered_by)
    problems: list[str] = []
    summary: dict[str, Any] = {}
    try:
        storage = backup_storage()
        if name is None:
            names = backup_names(storage)
            if not names:
                raise BackupError("There is no backup to restore: run `manage.py backup` first.")
            name = names[0]
        run.backup_name = name
        with tempfile.TemporaryDirectory(prefix="fsbx-drill-") as tmp:
            folder = Path(tmp)
            started = time.monotonic()
            dump_path = folder / "dump"
            with storage.open(name, "rb") as stream, dump_path.open("wb") as out:
                manifest = archive.read(stream, out, name=name)
            run.backup_created_at = _parse_time(manifest.get("created_at"))
            scratch = restore_scratch(manifest, dump_path, folder)
            try:
                run.restore_seconds = time.monotonic() - started
                manifest_path = folder / "manifest.json"
                manifest_path.write_text(json.dumps(manifest))
                checked = time.monotonic()
                result = check_scratch(scratch.database_url, manifest_path)
                run.check_seconds = time.monotonic() - checked
            finally:
                scratch.drop()
        problems += result["problems"]
        summary = result["summary"]
        run.newest_transaction_at = _parse_time(result["newest_transaction_at"])
        last_day = (manifest.get("last_closed_day") or {}).get("day")
        run.last_closed_day = date.fromisoformat(last_day) if last_day else None
    except BackupError as exc:
        problems.append(str(exc))
    except OSError as exc:  # the storage or the scratch folder
        problems.append(f"{name or 'The backup'} cannot be read: {exc}")
    run.finished_at = timezone.now()
    if run.newest_transaction_at is not None:
        run.rpo_seconds = (run.started_at - run.newest_transaction_at).total_seconds()
    run.status = DrillRun.Status.FAILED if problems else DrillRun.Status.PASSED
    run.problems = "\n".join(problems)
    run.summary = ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in summary.items())
    run.save()
    return DrillReport(run=run, summary=summary)
