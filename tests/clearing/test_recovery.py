"""Disaster recovery you can verify: ``backup`` writes an encrypted, compressed logical
backup with a manifest; ``restore_drill`` restores the newest into a scratch database
(PostgreSQL or SQLite, whichever the sandbox runs on), checks the books there and fails,
naming the mismatch, on a changed row, a changed file or the wrong key."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import sqlite3
import struct
import subprocess
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from clearing import closing, records
from clearing.recovery import archive, drill
from clearing.recovery.backup import backup_create, backup_names, backup_storage
from clearing.recovery.models import DrillRun
from clearing.recovery.pgtools import binary
from tests.clearing.conftest import DAY
from tests.clearing.test_records import large  # noqa: F401  (a fixture)
from wallets.models import LedgerTransaction

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump sees committed rows only

KEY_A = "backup-key-a-" + "a" * 40
KEY_B = "backup-key-b-" + "b" * 40
MASTER = "clearing-master-key-" + "m" * 40
DAY2 = DAY + timedelta(days=1)


@pytest.fixture
def books(ledger, large, settings, tmp_path):  # noqa: F811
    """Two closed days (a large inter-node transfer anchored as an encrypted record among
    them), backups going to a folder of their own, under backup key A."""
    settings.SANDBOX_BACKUP_DIR = tmp_path / "backups"
    settings.SANDBOX_BACKUP_KEY = [KEY_A]
    settings.CLEARING_MASTER_KEY = [MASTER]
    records.anchor_large_transactions()
    ledger.post(DAY2, 3)
    closing.close_day(day=DAY2, triggered_by="test")
    return large


def drill_fails(match: str) -> DrillRun:
    with pytest.raises(CommandError, match="The restore drill FAILED"):
        call_command("restore_drill")
    run = DrillRun.objects.get()
    assert run.status == DrillRun.Status.FAILED
    assert any(match in line for line in run.problem_lines), run.problems
    return run


def test_a_backup_restores_and_every_check_passes(books, capsys):
    call_command("backup")
    out = capsys.readouterr().out
    assert f"last closed day:    {DAY2}" in out
    call_command("restore_drill")
    out = capsys.readouterr().out
    assert "The restore drill passed" in out
    assert "RTO (restore):" in out and "RPO:" in out
    run = DrillRun.objects.get()
    assert run.status == DrillRun.Status.PASSED and run.problems == ""
    assert run.restore_seconds is not None and run.restore_seconds > 0
    assert run.rpo_seconds is not None and run.last_closed_day == DAY2
    # Both days recomputed against their anchors and OpenTimestamps proofs; the nodes' and
    # the operators' record keys unwrapped.
    assert "2 closed days" in run.summary and "2 ots proofs" in run.summary
    assert "3 record keys" in run.summary


def test_the_manifest_names_the_newest_transaction_and_the_last_closed_day(books):
    result = backup_create()
    manifest = result.manifest
    day = manifest["last_closed_day"]
    assert day["day"] == DAY2.isoformat() and len(day["root"]) == 64
    assert manifest["newest_transaction"]["id"] == max_transaction_id()
    assert manifest["cipher"] == "AES-256-GCM" and manifest["database"]["vendor"] in (
        "postgresql",
        "sqlite",
    )
    assert manifest["rows"]["wallets_ledgertransaction"] == LedgerTransaction.objects.count()


def max_transaction_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT MAX(id) FROM wallets_ledgertransaction")
        return int(cursor.fetchone()[0])


def test_the_file_is_aes_gcm_of_a_gzip_stream_of_a_real_dump(books, settings, tmp_path):
    """Read back with other code than ours: cryptography's one-shot AESGCM, the standard
    library's gzip, and sqlite3 or pg_restore for the dump itself."""
    name = backup_create().name
    data = (settings.SANDBOX_BACKUP_DIR / name).read_bytes()
    (length,) = struct.unpack(">I", data[8:12])
    head = data[: 12 + length]
    manifest = json.loads(head[12:])
    nonce, sealed = data[12 + length : 24 + length], data[24 + length :]
    key = archive._hkdf(KEY_A.encode(), b"aes-256-gcm")
    dump = gzip.decompress(AESGCM(key).decrypt(nonce, sealed, head))
    assert manifest["dump"]["bytes"] == len(dump)
    if manifest["database"]["vendor"] == "sqlite":
        path = tmp_path / "copy.sqlite3"
        path.write_bytes(dump)
        count = sqlite3.connect(path).execute("SELECT COUNT(*) FROM clearing_dayclose").fetchone()
        assert count == (2,)
    else:
        path = tmp_path / "dump.custom"
        path.write_bytes(dump)
        listing = subprocess.run(
            [binary("pg_restore"), "--list", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert "TABLE DATA public wallets_ledgertransaction" in listing


def test_a_changed_ledger_amount_in_the_restored_database_fails_the_drill(books, monkeypatch):
    call_command("backup")
    big = books["big"]
    restore = drill.restore_scratch

    def restore_then_tamper(manifest, dump, folder):
        scratch = restore(manifest, dump, folder)
        tamper(
            scratch.database_url,
            "UPDATE wallets_entry SET amount = amount + 1 WHERE transaction_id = %s AND amount > 0",
            big.id,
        )
        return scratch

    monkeypatch.setattr(drill, "restore_scratch", restore_then_tamper)
    run = drill_fails(f"ledger: transaction {big.uuid} (#{big.id}) does not balance")
    assert any(
        line.startswith(f"anchors: {DAY} transaction {big.id}: changed")
        for line in run.problem_lines
    ), run.problems


def tamper(database_url: str, statement: str, *params) -> None:
    """Change the restored copy as an intruder would (PostgreSQL: with the append-only
    triggers off for the session)."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            db.execute(statement.replace("%s", "?"), params)
        return
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as db:
        db.execute("SET session_replication_role = replica")
        db.execute(statement, params)


def test_a_changed_row_inside_the_dump_fails_the_drill(books, settings):
    """Someone with the backup key rewrites the dump (a memo of a closed day, same length)
    and re-encrypts it with a fresh checksum: the restored books no longer give the
    anchored root, and the drill says which transaction."""
    name = backup_create().name
    storage = backup_storage()
    plain = io.BytesIO()
    with storage.open(name, "rb") as stream:
        manifest = archive.read(stream, plain)
    dump = plain.getvalue()
    assert b"transfer 1" in dump
    forged = io.BytesIO(dump.replace(b"transfer 1", b"transfer 9"))
    out = io.BytesIO()
    archive.write(manifest, forged, out)
    newer = name.replace("fsbx-backup-", "fsbx-backup-9")  # sorts first: the newest
    (settings.SANDBOX_BACKUP_DIR / newer).write_bytes(out.getvalue())
    run = drill_fails(f"anchors: {DAY2} transaction")
    assert run.backup_name == newer
    assert any(": changed: differs from the anchored transaction" in p for p in run.problem_lines)


def test_a_flipped_byte_in_the_file_fails_the_drill(books, settings):
    name = backup_create().name
    path = settings.SANDBOX_BACKUP_DIR / name
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    drill_fails("the file was changed after it was written")


def test_a_wrong_backup_key_is_a_clear_error(books, settings):
    call_command("backup")
    settings.SANDBOX_BACKUP_KEY = [KEY_B]
    run = drill_fails("which SANDBOX_BACKUP_KEY does not hold")
    assert archive.key_id(KEY_A) in run.problems
    assert run.restore_seconds is None


def test_an_older_backup_key_still_decrypts_after_a_rotation(books, settings):
    call_command("backup")
    settings.SANDBOX_BACKUP_KEY = [KEY_B, KEY_A]
    call_command("restore_drill")
    assert DrillRun.objects.get().status == DrillRun.Status.PASSED


def test_a_lost_clearing_master_key_fails_the_drill(books, settings):
    """The keys kept beside the backups are part of the backup: without the master key the
    restored record keys do not unwrap."""
    call_command("backup")
    settings.CLEARING_MASTER_KEY = ["another-master-key-" + "z" * 40]
    drill_fails("anchors: chain: record-key: node ")


def test_the_scheduled_tasks_back_up_and_drill(books):
    from clearing.recovery.tasks import backup_task, restore_drill_task

    name = backup_task()
    assert backup_names() == [name]
    assert restore_drill_task() == "passed"
    assert DrillRun.objects.get().triggered_by == "schedule"


def test_a_backup_decrypts_to_its_dump_for_a_real_restore(books, settings, tmp_path):
    name = backup_create().name
    call_command("backup_decrypt", name, str(tmp_path / "dump"))
    assert (tmp_path / "dump").stat().st_size > 0
    data = (settings.SANDBOX_BACKUP_DIR / name).read_bytes()
    (tmp_path / "tampered").write_bytes(data[:-1])  # the tag loses a byte
    with pytest.raises(CommandError, match="does not decrypt under backup key"):
        call_command("backup_decrypt", str(tmp_path / "tampered"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_production_refuses_to_back_up_without_a_backup_key(books, settings):
    settings.DEBUG = False
    settings.SANDBOX_BACKUP_KEY = []
    with pytest.raises(CommandError, match="SANDBOX_BACKUP_KEY"):
        call_command("backup")
    assert backup_names() == []


def test_no_backup_is_a_failed_drill(books):
    drill_fails("There is no backup to restore")


def test_retention_keeps_the_newest(books):
    names = [backup_create(keep=2).name for _ in range(3)]
    assert backup_names() == sorted(names, reverse=True)[:2]


def test_operators_see_the_last_drill(books, operator_web, alice):
    call_command("backup")
    with pytest.raises(CommandError):
        call_command("restore_drill", backup="fsbx-backup-missing.fsbx")
    page = operator_web.get("/clearing/recovery/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "failed" in html and "fsbx-backup-missing.fsbx" in html
    assert "Backups on hand" in html
    assert alice.web.get("/clearing/recovery/").status_code == 403


@pytest.mark.django_db
def test_backups_run_nightly_and_drills_weekly():
    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module(
        "clearing.recovery.migrations.0002_backup_and_drill_schedules"
    )
    migration.Migration.operations[0].code(apps, None)  # the tables may have been flushed
    backup = PeriodicTask.objects.get(task="recovery.tasks.backup")
    weekly = PeriodicTask.objects.get(task="recovery.tasks.restore_drill")
    assert (backup.crontab.hour, backup.crontab.day_of_week) == ("3", "*")
    assert (weekly.crontab.hour, weekly.crontab.day_of_week) == ("4", "0")
