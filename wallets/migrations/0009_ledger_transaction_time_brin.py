"""A BRIN index on the ledger's posting time (no-op outside PostgreSQL).

The daily close and the settlement windows read a day of transactions by ``posted_at``
across every tenant; no index served that (the tenant's index leads with the tenant), so
each close scanned the whole table: 300 ms at 1,000,000 transactions, growing without end.
Rows are appended in posting order, so a block range index (a few kilobytes: the minimum
and maximum time of each 128 pages) finds the day's pages: 20-45 ms. It costs next to
nothing on insert. Built CONCURRENTLY: the ledger keeps taking postings meanwhile.
See docs/scaling.md.
"""

from django.db import migrations

FORWARD = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS ledgertxn_posted_brin "
    "ON wallets_ledgertransaction USING brin (posted_at)"
)
BACKWARD = "DROP INDEX CONCURRENTLY IF EXISTS ledgertxn_posted_brin"


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("wallets", "0008_idempotency_key_purge_schedule")]

    operations = [migrations.RunPython(forward, backward)]
