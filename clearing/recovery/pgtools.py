"""PostgreSQL's own tools (pg_dump, pg_restore) run against the database Django uses.

The binaries come from ``SANDBOX_PG_BIN_DIR`` when set, else the server's major version
under ``/usr/lib/postgresql/<major>/bin`` (Debian's layout; pg_dump must be at least the
server's version), else ``PATH``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from clearing.recovery.archive import BackupError

TIMEOUT_SECONDS = 6 * 3600


def binary(name: str) -> str:
    configured = getattr(settings, "SANDBOX_PG_BIN_DIR", "")
    if configured:
        return str(Path(configured) / name)
    major = (connection.pg_version or 0) // 10000  # type: ignore[attr-defined]
    debian = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if debian.exists():
        return str(debian)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found: install PostgreSQL's client tools or set SANDBOX_PG_BIN_DIR."
        )
    return found


def _settings(name: str | None = None) -> dict[str, Any]:
    current = connection.settings_dict
    return {**current, "NAME": name or current["NAME"]}


def libpq_env(name: str | None = None) -> dict[str, str]:
    """The environment libpq's tools read: the password never appears in a command line."""
    db = _settings(name)
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", db.get("HOST")),
        ("PGPORT", db.get("PORT")),
        ("PGUSER", db.get("USER")),
        ("PGPASSWORD", db.get("PASSWORD")),
        ("PGDATABASE", db["NAME"]),
        ("PGSSLMODE", (db.get("OPTIONS") or {}).get("sslmode")),
    ):
        if value:
            env[variable] = str(value)
    return env


def database_url(name: str) -> str:
    """A ``DATABASE_URL`` for database ``name`` on the same server, as the same user."""
    db = _settings(name)
    user = quote(str(db.get("USER") or ""), safe="")
    password = db.get("PASSWORD")
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    sslmode = (db.get("OPTIONS") or {}).get("sslmode")
    query = f"?sslmode={sslmode}" if sslmode else ""
    return f"postgres://{auth}{host}{port}/{quote(name, safe='')}{query}"


def run(args: list[str], *, env: dict[str, str], what: str) -> None:
    try:
        subprocess.run(
            args, env=env, check=True, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-5:]
        raise BackupError(f"{what} failed (exit {exc.returncode}): {' / '.join(tail)}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what} failed: {exc}") from None


def dump(*, snapshot: str, target: Path) -> None:
    """pg_dump's custom format of the whole database as ``snapshot`` sees it (uncompressed:
    the archive compresses everything the same way)."""
    run(
        [
            binary("pg_dump"),
            "--format=custom",
            "--compress=0",
            f"--snapshot={snapshot}",
            "--no-owner",
            "--no-privileges",
            f"--file={target}",
        ],
        env=libpq_env(),
        what="pg_dump",
    )


def create_database(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")


def drop_database(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")


def restore(*, source: Path, name: str) -> None:
    run(
        [
            binary("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--dbname={name}",
            str(source),
        ],
        env=libpq_env(name),
        what="pg_restore",
    )
