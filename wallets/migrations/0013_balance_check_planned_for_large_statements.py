"""The zero-sum check of a large statement is planned for its size (no-op outside
PostgreSQL).

``wallets_transactions_balanced`` (0010) is PL/pgSQL: its query is planned at its first
run in a session and the plan kept, costed for the statement's new rows *then*. A session
whose first posting was one transaction (a deposit, a single transfer) kept a plan for one
row: a nested loop that, for a bulk of 8,000 transfers, walks the 8,000 sums once per new
transaction, 10 to 20 s instead of a few milliseconds (seen with ``bench/bulk.py`` on main,
in ``auto_explain``: "Nested Loop Left Join ... Named Tuplestore Scan (rows=1)"). Now a
statement of more than 64 transactions runs the same query through ``EXECUTE``, planned
for what it carries (a millisecond beside such a statement); smaller ones keep the cached
plan, with no planning. Same query, same rule, same errors.
"""

from django.db import migrations

SELECT_LIST = """
    WITH tenants AS (SELECT FROM tenants_tenant AS t
                      WHERE t.id IN (SELECT tenant_id FROM new_transactions) FOR KEY SHARE OF t)
    SELECT (SELECT count(DISTINCT tenant_id) FROM new_transactions)
               - (SELECT count(*) FROM tenants) AS missing_tenants,
           u.id, u.n, u.off"""

FROM_PART = """
      FROM (SELECT) AS one
      LEFT JOIN (
        SELECT t.id, coalesce(s.n, 0) AS n, s.off
          FROM new_transactions AS t
          LEFT JOIN (SELECT c.transaction_id, sum(c.n) AS n,
                            string_agg(c.currency || ' ' || c.total, ', ')
                                FILTER (WHERE c.total <> 0) AS off
                       FROM (SELECT e.transaction_id, e.currency, sum(e.amount) AS total,
                                    count(*) AS n
                               FROM wallets_entry AS e
                              WHERE e.transaction_id
                                    BETWEEN (SELECT min(id) FROM new_transactions)
                                        AND (SELECT max(id) FROM new_transactions)
                              GROUP BY e.transaction_id, e.currency) AS c
                      GROUP BY c.transaction_id) AS s ON s.transaction_id = t.id
         WHERE coalesce(s.n, 0) < 2 OR s.off IS NOT NULL
         ORDER BY t.id
         LIMIT 1) AS u ON true"""

CHECKS = r"""
    IF bad.missing_tenants > 0 THEN
        SELECT n.tenant_id INTO no_tenant FROM new_transactions AS n
         WHERE NOT EXISTS (SELECT FROM tenants_tenant AS t WHERE t.id = n.tenant_id)
           AND n.tenant_id IS NOT NULL LIMIT 1;
        RAISE EXCEPTION 'insert on table "wallets_ledgertransaction" violates foreign key: tenant_id % is not present in table "tenants_tenant"',
            no_tenant USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF bad.id IS NULL THEN
        RETURN NULL;
    ELSIF bad.n = 0 THEN
        RAISE EXCEPTION 'ledger transaction % has no entries', bad.id
            USING ERRCODE = 'check_violation';
    ELSIF bad.n < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entry; at least 2 are needed',
            bad.id, bad.n USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'ledger transaction % does not sum to zero: %', bad.id, bad.off
        USING ERRCODE = 'check_violation';
END $$;
"""

HEAD = """
CREATE OR REPLACE FUNCTION wallets_transactions_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
-- One query: lock the tenants named, count those missing, and find the first transaction
-- without two entries summing to zero per currency. The statement's ids come from one
-- sequence: their entries lie in one range of the entries' transaction index (with
-- those of whatever concurrent statements drew ids in between, read and left out by the
-- join on the statement's own rows).
DECLARE
    bad record;
    no_tenant uuid;
BEGIN"""

FORWARD = (
    HEAD
    + """
    -- A large statement: the query planned for its size (a plan cached for one row
    -- walks a bulk's sums once per transaction). A small one: the cached plan.
    IF (SELECT count(*) > 64 FROM new_transactions) THEN
        EXECUTE $q$"""
    + SELECT_LIST
    + FROM_PART
    + """$q$ INTO bad;
    ELSE"""
    + SELECT_LIST
    + "\n      INTO bad"
    + FROM_PART
    + """;
    END IF;"""
    + CHECKS
)

BACKWARD = HEAD + SELECT_LIST + "\n      INTO bad" + FROM_PART + ";" + CHECKS


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the '%' of RAISE formats stay as written


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0012_idempotency_key_tenant_index_dropped"),
    ]

    operations = [migrations.RunPython(forward, backward)]
