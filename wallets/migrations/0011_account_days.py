"""The accounts' daily roll-up for the charts, kept by PostgreSQL (``wallets.account_days``;
the table only, elsewhere).

- ``wallets_entry_account_days``: after each INSERT of entries (statement-level, with the
  statement's new rows, as the ledger's other checks of 0010), one row per virtual
  account, day (cut in ``TIME_ZONE``, named by ``wallets_account_days_zone()``) and
  currency it touched. Insert only: no row is locked that another posting could need.
- ``wallets_entry_truncated``: a TRUNCATE of the entries (test databases) empties the
  roll-up too. UPDATE and DELETE of entries are refused (``wallets_append_only``).
- The roll-up of the entries already posted.
"""

from django.conf import settings
from django.db import migrations, models

from wallets.account_days import COLUMNS, rows_from, zone_function

FORWARD = rf"""
-- Its plan is made once per connection, for the size of the statement at hand; one made
-- for a bulk of 8,000 would be compiled by JIT for every later single transfer.
CREATE FUNCTION wallets_account_days_add() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    INSERT INTO wallets_accountday ({COLUMNS})
    {rows_from("new_entries")};
    RETURN NULL;
END $$;
CREATE TRIGGER wallets_entry_account_days AFTER INSERT ON wallets_entry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION wallets_account_days_add();

-- DELETE, not TRUNCATE: Django's flush truncates both tables in one statement, and a
-- table that statement is truncating cannot be truncated again inside it.
CREATE FUNCTION wallets_account_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM wallets_accountday;
    RETURN NULL;
END $$;
CREATE TRIGGER wallets_entry_truncated AFTER TRUNCATE ON wallets_entry
    FOR EACH STATEMENT EXECUTE FUNCTION wallets_account_days_truncate();

INSERT INTO wallets_accountday ({COLUMNS}) {rows_from("wallets_entry", per_statement=False)};
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS wallets_entry_truncated ON wallets_entry;
DROP FUNCTION IF EXISTS wallets_account_days_truncate();
DROP TRIGGER IF EXISTS wallets_entry_account_days ON wallets_entry;
DROP FUNCTION IF EXISTS wallets_account_days_add();
DROP FUNCTION IF EXISTS wallets_account_days_zone();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(zone_function(settings.TIME_ZONE))
            cursor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0010_ledger_references_checked_per_statement"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccountDay",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "account_id",
                        "day",
                        "currency",
                        "first_entry_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("day", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                ("first_entry_id", models.BigIntegerField()),
                ("net", models.BigIntegerField(default=0)),
                ("node_moved", models.BigIntegerField(default=0)),
                ("node_transactions", models.BigIntegerField(default=0)),
                ("tenant_moved", models.BigIntegerField(default=0)),
                ("tenant_transactions", models.BigIntegerField(default=0)),
                (
                    "account",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.DO_NOTHING,
                        related_name="+",
                        to="wallets.account",
                    ),
                ),
            ],
        ),
        migrations.RunPython(forward, backward),
    ]
