"""A transaction is reversed at most once: now by a unique index of the reversals alone.

``reverses`` was a one-to-one field, whose unique index held an entry for every ledger
transaction, nearly all of them NULL (they reverse nothing): one more index entry to write
per posting, 8,000 per bulk, that no look-up and no rule needed. A unique index ``WHERE
reverses_id IS NOT NULL`` gives the same guarantee (NULLs never conflicted) and serves the
look-ups of a transaction's reversal (``reverses_id = x`` implies the condition). The
field becomes a foreign key without an index of its own; its constraint stays as it was.

On PostgreSQL the new index is built CONCURRENTLY (postings go on meanwhile) before the
old constraint goes, and the foreign key is left alone: Django's own ``AlterField`` would
drop it and add it again, checking the whole ledger under a lock that stops postings. On
SQLite (development) the one-to-one's UNIQUE is part of the table and stays beside the
new index: the same guarantee.
"""

import time

import django.db.models.deletion
from django.db import migrations, models, transaction
from django.db.utils import OperationalError

NEW = "ledgertxn_reversed_once"
# The name PostgreSQL gave the one-to-one's UNIQUE (0001_initial).
OLD = "wallets_ledgertransaction_reverses_id_key"
TABLE = "wallets_ledgertransaction"
# An ALTER TABLE of the ledger waits this long for its lock, then steps aside and tries
# again: a long reader (the daily close, an export) would otherwise hold every posting
# queued behind the ALTER until it ends.
LOCK_TIMEOUT = "2s"
ATTEMPTS = 30

# Every statement goes through ``schema_editor.execute``, which only prints it under
# ``sqlmigrate`` (a RunPython inside SeparateDatabaseAndState runs there too); the look-ups
# of the catalogue below are skipped then.


def _index_valid(schema_editor, name):
    """True or False for an index of that name (valid or not), None if there is none."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _build_unique_index(schema_editor, name, definition):
    """CREATE UNIQUE INDEX CONCURRENTLY, safe to run again. A build that was interrupted
    (a timeout, a cancel, a deadlock) leaves an INVALID index that PostgreSQL neither
    maintains nor uses, and ``IF NOT EXISTS`` would keep it: it is dropped and built
    again, and the new one must be valid before anything relies on it."""
    if not schema_editor.collect_sql and _index_valid(schema_editor, name) is False:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    schema_editor.execute(f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{name}" {definition}')
    if not schema_editor.collect_sql and not _index_valid(schema_editor, name):
        raise RuntimeError(f"The index {name} was not built: run migrate again.")


def _unique_constraints_of_reverses(schema_editor):
    """The names of the UNIQUE constraints on ``reverses_id`` alone: OLD on a database
    built by these migrations, found by column rather than by name all the same."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conname FROM pg_constraint AS c"
            " JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attname = 'reverses_id'"
            " WHERE c.conrelid = to_regclass(%s) AND c.contype = 'u'"
            " AND c.conkey = ARRAY[a.attnum]",
            [TABLE],
        )
        return [name for (name,) in cursor.fetchall()]


def _alter_ledger(schema_editor, sql):
    """An ALTER TABLE of the ledger that waits at most LOCK_TIMEOUT for its lock at a
    time, so that postings never queue behind it for long."""
    if schema_editor.collect_sql:
        # Printed for a person to run: with the same bound on the wait.
        schema_editor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        schema_editor.execute(sql)
        schema_editor.execute("RESET lock_timeout")
        return
    alias = schema_editor.connection.alias
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic(using=alias):
                schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                schema_editor.execute(sql)
            return
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != "55P03" or attempt == ATTEMPTS - 1:
                raise
            time.sleep(1)


def forward(apps, schema_editor):
    where = 'WHERE "reverses_id" IS NOT NULL'
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{NEW}" ON "{TABLE}" ("reverses_id") {where}'
        )
        return
    _build_unique_index(schema_editor, NEW, f'ON "{TABLE}" ("reverses_id") {where}')
    olds = [OLD] if schema_editor.collect_sql else _unique_constraints_of_reverses(schema_editor)
    for old in olds:
        _alter_ledger(schema_editor, f'ALTER TABLE "{TABLE}" DROP CONSTRAINT IF EXISTS "{old}"')


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{NEW}"')
        return
    # The old UNIQUE, built without stopping postings, then adopted by the constraint
    # (ADD CONSTRAINT ... USING INDEX takes its lock only briefly).
    if schema_editor.collect_sql or not _unique_constraints_of_reverses(schema_editor):
        _build_unique_index(schema_editor, OLD, f'ON "{TABLE}" ("reverses_id")')
        _alter_ledger(
            schema_editor,
            f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{OLD}" UNIQUE USING INDEX "{OLD}"',
        )
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{NEW}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("tenants", "0003_audit_actor_label_fits_any_email"),
        ("wallets", "0015_late_changes_in_one_function"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgertransaction",
                    name="reverses",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reversal",
                        to="wallets.ledgertransaction",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="ledgertransaction",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("reverses__isnull", False)),
                        fields=("reverses",),
                        name="ledgertxn_reversed_once",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        )
    ]
