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

import django.db.models.deletion
from django.db import migrations, models

CREATE = (
    'CREATE UNIQUE INDEX {concurrently} IF NOT EXISTS "ledgertxn_reversed_once" '
    'ON "wallets_ledgertransaction" ("reverses_id") WHERE "reverses_id" IS NOT NULL'
)
DROP = 'DROP INDEX {concurrently} IF EXISTS "ledgertxn_reversed_once"'
# The name PostgreSQL gave the one-to-one's UNIQUE (0001_initial).
OLD = "wallets_ledgertransaction_reverses_id_key"


def forward(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(CREATE.format(concurrently="CONCURRENTLY" if postgresql else ""))
        if postgresql:
            cursor.execute(f'ALTER TABLE "wallets_ledgertransaction" DROP CONSTRAINT "{OLD}"')


def backward(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    with schema_editor.connection.cursor() as cursor:
        if postgresql:
            cursor.execute(
                f'ALTER TABLE "wallets_ledgertransaction" ADD CONSTRAINT "{OLD}" '
                'UNIQUE ("reverses_id")'
            )
        cursor.execute(DROP.format(concurrently="CONCURRENTLY" if postgresql else ""))


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
