"""Migration 0016 (reversals unique by a partial index) on PostgreSQL: ``sqlmigrate`` only
prints it, a run after an interrupted concurrent build leaves a valid index, its ALTER
steps aside while the ledger is busy and tries again, and it runs forwards and backwards
again without error. Each test leaves the schema migrated, whatever happens in it."""

from __future__ import annotations

import importlib
import threading
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

migration = importlib.import_module("wallets.migrations.0016_reversed_once_partial_unique")

MIGRATED = {"new_index_valid": True, "old_constraint": False}
UNMIGRATED = {"new_index_valid": None, "old_constraint": True}


def run(step) -> None:
    with connection.schema_editor(atomic=False) as editor:
        step(apps, editor)


@pytest.fixture(autouse=True)
def migrated_after():
    """``forward`` is safe to run again: whatever a test left, the next finds 0016."""
    yield
    run(migration.forward)
    assert catalogue() == MIGRATED


def catalogue() -> dict[str, object]:
    """The index of the reversals (None: absent; else whether valid) and whether the old
    one-to-one's UNIQUE constraint is there."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)),"
            " EXISTS (SELECT 1 FROM pg_constraint WHERE conname = %s)",
            [migration.NEW, migration.OLD],
        )
        new_index_valid, old_constraint = cursor.fetchone()
    return {"new_index_valid": new_index_valid, "old_constraint": old_constraint}


def interrupt_the_build_of_the_new_index() -> None:
    """Leave what a cancelled CREATE INDEX CONCURRENTLY leaves: an index PostgreSQL
    neither maintains nor uses, which IF NOT EXISTS alone would keep. (Writing pg_index
    needs a superuser: the test databases' owner is one here and in CI.)"""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("marking an index invalid needs a superuser")
        cursor.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {migration.NEW}"
            f" ON {migration.TABLE} (reverses_id) WHERE reverses_id IS NOT NULL"
        )
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false, indisready = false"
            " WHERE indexrelid = to_regclass(%s)",
            [migration.NEW],
        )


def test_sqlmigrate_prints_the_statements_and_changes_nothing():
    run(migration.backward)
    assert catalogue() == UNMIGRATED
    out = StringIO()
    call_command("sqlmigrate", "wallets", "0016", stdout=out)
    printed = out.getvalue()
    assert 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ledgertxn_reversed_once"' in printed
    assert "SET lock_timeout" in printed and "DROP CONSTRAINT IF EXISTS" in printed
    assert catalogue() == UNMIGRATED


def test_an_interrupted_build_beside_the_old_constraint_is_built_again_before_it_goes():
    run(migration.backward)
    interrupt_the_build_of_the_new_index()
    assert catalogue() == {"new_index_valid": False, "old_constraint": True}
    run(migration.forward)
    assert catalogue() == MIGRATED


def test_its_alter_steps_aside_while_the_ledger_is_busy_and_tries_again(monkeypatch):
    run(migration.backward)
    locked, release, slept = threading.Event(), threading.Event(), []

    def long_read():  # a daily close or an export, holding the ledger's table
        reader = connections.create_connection("default")
        with reader.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"LOCK TABLE {migration.TABLE} IN ACCESS SHARE MODE")
            locked.set()
            release.wait(10)
            cursor.execute("COMMIT")
        reader.close()

    holder = threading.Thread(target=long_read)

    class Pause:  # the migration's pause before it tries again: the reader ends meanwhile
        @staticmethod
        def sleep(seconds: float) -> None:
            slept.append(seconds)
            release.set()
            holder.join()

    monkeypatch.setattr(migration, "LOCK_TIMEOUT", "100ms")
    monkeypatch.setattr(migration, "time", Pause)
    holder.start()
    try:
        assert locked.wait(10)
        run(migration.forward)
    finally:
        release.set()
        holder.join()
    assert slept == [1]  # the first ALTER gave up at its lock_timeout, the second went through
    assert catalogue() == MIGRATED


def test_backwards_and_forwards_again_each_twice():
    for step in (migration.backward, migration.backward):
        run(step)
        assert catalogue() == UNMIGRATED
    for step in (migration.forward, migration.forward):
        run(step)
        assert catalogue() == MIGRATED
