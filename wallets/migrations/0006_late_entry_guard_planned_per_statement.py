"""The late-entry guard of 0005, made independent of cached plans (no-op outside
PostgreSQL).

PL/pgSQL caches query plans; the guard's plan, made while the tables were small, turned
into a scan of all entries per entry of an 8,000-transfer batch. Now it first collects the
batch's transactions that an earlier (sub)transaction wrote, one primary-key lookup per
transaction (usually none: then it is done), and only sums those transactions' entries.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION wallets_entries_appended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    statement_xmin xid;
    late bigint[];
    bad record;
BEGIN
    -- Every row of this statement carries the xid of the (sub)transaction running it.
    SELECT e.xmin INTO statement_xmin
      FROM wallets_entry e WHERE e.id = (SELECT min(id) FROM new_entries);
    SELECT array_agg(d.id) INTO late
      FROM (SELECT DISTINCT transaction_id AS id FROM new_entries) AS d
     WHERE NOT ((SELECT t.xmin FROM wallets_ledgertransaction t WHERE t.id = d.id)
                = statement_xmin);
    IF late IS NULL THEN
        RETURN NULL;  -- the transactions are new: their deferred check sees every entry
    END IF;
    FOR bad IN
        SELECT e.transaction_id, e.currency, sum(e.amount) AS total
          FROM wallets_entry e
         WHERE e.transaction_id = ANY (late)
         GROUP BY e.transaction_id, e.currency
        HAVING sum(e.amount) <> 0
         LIMIT 1
    LOOP
        RAISE EXCEPTION 'ledger transaction % does not sum to zero after entries were added to it: % %',
            bad.transaction_id, bad.currency, bad.total USING ERRCODE = 'check_violation';
    END LOOP;
    RETURN NULL;
END $$;
"""

BACKWARD = r"""
CREATE OR REPLACE FUNCTION wallets_entries_appended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    statement_xmin xid;
    bad record;
BEGIN
    SELECT e.xmin INTO statement_xmin
      FROM wallets_entry e WHERE e.id = (SELECT min(id) FROM new_entries);
    FOR bad IN
        SELECT e.transaction_id, e.currency, sum(e.amount) AS total
          FROM wallets_entry e
         WHERE e.transaction_id IN (
                SELECT n.transaction_id FROM new_entries n
                  JOIN wallets_ledgertransaction t ON t.id = n.transaction_id
                 WHERE NOT (t.xmin = statement_xmin))
         GROUP BY e.transaction_id, e.currency
        HAVING sum(e.amount) <> 0
         LIMIT 1
    LOOP
        RAISE EXCEPTION 'ledger transaction % does not sum to zero after entries were added to it: % %',
            bad.transaction_id, bad.currency, bad.total USING ERRCODE = 'check_violation';
    END LOOP;
    RETURN NULL;
END $$;
"""


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the '%' of RAISE formats stay as written


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0005_balance_check_per_transaction")]

    operations = [migrations.RunPython(forward, backward)]
