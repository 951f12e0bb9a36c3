"""Migration 0016 (reversals unique by a partial index) on PostgreSQL: ``sqlmigrate`` only
prints it, a run after an interrupted concurrent build leaves a valid index, and it runs
forwards and backwards again without error."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

migration = importlib.import_module("wallets.migrations.0016_reversed_once_partial_unique")


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


def run(step) -> None:
    with connection.schema_editor(atomic=False) as editor:
        step(apps, editor)


MIGRATED = {"new_index_valid": True, "old_constraint": False}


def test_sqlmigrate_prints_the_statements_and_changes_nothing():
    run(migration.backward)
    before = catalogue()
    try:
        out = StringIO()
        call_command("sqlmigrate", "wallets", "0016", stdout=out)
        printed = out.getvalue()
        assert 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "ledgertxn_reversed_once"' in printed
        assert "DROP CONSTRAINT IF EXISTS" in printed
        assert catalogue() == before == {"new_index_valid": None, "old_constraint": True}
    finally:
        run(migration.forward)
    assert catalogue() == MIGRATED


def test_a_run_after_an_interrupted_build_leaves_a_valid_index():
    # What a cancelled CREATE INDEX CONCURRENTLY leaves: an index PostgreSQL neither
    # maintains nor uses, which IF NOT EXISTS alone would keep.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false, indisready = false"
            " WHERE indexrelid = to_regclass(%s)",
            [migration.NEW],
        )
    assert catalogue()["new_index_valid"] is False
    run(migration.forward)
    assert catalogue() == MIGRATED


def test_backwards_and_forwards_again_each_twice():
    for step in (migration.backward, migration.backward):
        run(step)
        assert catalogue() == {"new_index_valid": None, "old_constraint": True}
    for step in (migration.forward, migration.forward):
        run(step)
        assert catalogue() == MIGRATED
