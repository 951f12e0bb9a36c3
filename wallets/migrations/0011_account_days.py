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

# The SQL as this migration ran it when it was written, frozen here: copied from
# ``wallets.account_days`` (its ``COLUMNS``, ``rows_from(...)`` and ``zone_function``), which
# keeps its own copy for the recut and may change later without changing this migration.
COLUMNS = (
    "account_id, day, currency, first_entry_id, net, node_moved, node_transactions, "
    "tenant_moved, tenant_transactions"
)

# The roll-up rows of the statement's new entries: the trigger's query
# (``rows_from("new_entries")``).
ROWS_OF_NEW_ENTRIES = """
SELECT x.account_id, x.day, c.currency, min(x.id), sum(c.net), sum(c.node_moved),
       sum(c.node_transactions), sum(c.tenant_moved), sum(c.tenant_transactions)
  FROM (SELECT e.id, e.account_id, e.currency, e.amount,
               (e.posted_at AT TIME ZONE wallets_account_days_zone())::date AS day,
               t.currency AS txn_currency, t.amount AS txn_amount,
               e.id = coalesce(min(e.id) FILTER (WHERE e.currency = t.currency) OVER node,
                               min(e.id) OVER node) AS node_first,
               e.id = coalesce(min(e.id) FILTER (WHERE e.currency = t.currency) OVER txn,
                               min(e.id) OVER txn) AS tenant_first
          FROM new_entries AS e
         CROSS JOIN LATERAL (SELECT a.wallet_id FROM wallets_account AS a
                              WHERE a.id = e.account_id OFFSET 0) AS a
         CROSS JOIN LATERAL (SELECT t.currency, t.amount FROM wallets_ledgertransaction AS t
                              WHERE t.id = e.transaction_id OFFSET 0) AS t
         WHERE a.wallet_id IS NOT NULL
        WINDOW node AS (PARTITION BY e.transaction_id, a.wallet_id),
               txn AS (PARTITION BY e.transaction_id)) AS x
 CROSS JOIN LATERAL (
        SELECT x.currency, x.amount,
               CASE WHEN x.node_first AND x.currency = x.txn_currency
                    THEN x.txn_amount ELSE 0 END,
               (x.node_first AND x.currency = x.txn_currency)::int,
               CASE WHEN x.tenant_first AND x.currency = x.txn_currency
                    THEN x.txn_amount ELSE 0 END,
               (x.tenant_first AND x.currency = x.txn_currency)::int
         UNION ALL
        SELECT x.txn_currency, 0,
               CASE WHEN x.node_first THEN x.txn_amount ELSE 0 END, x.node_first::int,
               CASE WHEN x.tenant_first THEN x.txn_amount ELSE 0 END, x.tenant_first::int
         WHERE x.currency <> x.txn_currency AND (x.node_first OR x.tenant_first)
       ) AS c(currency, net, node_moved, node_transactions, tenant_moved, tenant_transactions)
 GROUP BY x.account_id, x.day, c.currency
"""

# The roll-up rows of the entries already posted: the backfill's query
# (``rows_from("wallets_entry", per_statement=False)``).
ROWS_OF_ALL_ENTRIES = """
SELECT x.account_id, x.day, c.currency, min(x.id), sum(c.net), sum(c.node_moved),
       sum(c.node_transactions), sum(c.tenant_moved), sum(c.tenant_transactions)
  FROM (SELECT e.id, e.account_id, e.currency, e.amount,
               (e.posted_at AT TIME ZONE wallets_account_days_zone())::date AS day,
               t.currency AS txn_currency, t.amount AS txn_amount,
               e.id = coalesce(min(e.id) FILTER (WHERE e.currency = t.currency) OVER node,
                               min(e.id) OVER node) AS node_first,
               e.id = coalesce(min(e.id) FILTER (WHERE e.currency = t.currency) OVER txn,
                               min(e.id) OVER txn) AS tenant_first
          FROM wallets_entry AS e
          JOIN wallets_account AS a ON a.id = e.account_id
          JOIN wallets_ledgertransaction AS t ON t.id = e.transaction_id
         WHERE a.wallet_id IS NOT NULL
        WINDOW node AS (PARTITION BY e.transaction_id, a.wallet_id),
               txn AS (PARTITION BY e.transaction_id)) AS x
 CROSS JOIN LATERAL (
        SELECT x.currency, x.amount,
               CASE WHEN x.node_first AND x.currency = x.txn_currency
                    THEN x.txn_amount ELSE 0 END,
               (x.node_first AND x.currency = x.txn_currency)::int,
               CASE WHEN x.tenant_first AND x.currency = x.txn_currency
                    THEN x.txn_amount ELSE 0 END,
               (x.tenant_first AND x.currency = x.txn_currency)::int
         UNION ALL
        SELECT x.txn_currency, 0,
               CASE WHEN x.node_first THEN x.txn_amount ELSE 0 END, x.node_first::int,
               CASE WHEN x.tenant_first THEN x.txn_amount ELSE 0 END, x.tenant_first::int
         WHERE x.currency <> x.txn_currency AND (x.node_first OR x.tenant_first)
       ) AS c(currency, net, node_moved, node_transactions, tenant_moved, tenant_transactions)
 GROUP BY x.account_id, x.day, c.currency
"""

# ``zone_function(zone)``: the dashboard's time zone, inlined into the trigger's plan as a
# constant (an immutable SQL function); ``{zone}`` is a SQL string literal's content.
ZONE_FUNCTION = (
    "CREATE OR REPLACE FUNCTION wallets_account_days_zone() RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '{zone}'::text $$"
)

FORWARD = rf"""
-- Its plan is made once per connection, for the size of the statement at hand; one made
-- for a bulk of 8,000 would be compiled by JIT for every later single transfer.
CREATE FUNCTION wallets_account_days_add() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    INSERT INTO wallets_accountday ({COLUMNS})
    {ROWS_OF_NEW_ENTRIES};
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

INSERT INTO wallets_accountday ({COLUMNS}) {ROWS_OF_ALL_ENTRIES};
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
            zone = settings.TIME_ZONE.replace("'", "''")
            cursor.execute(ZONE_FUNCTION.format(zone=zone))
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
