"""The ledger's rules checked once per INSERT statement, not once per row (no-op outside
PostgreSQL).

A bulk of 8,000 transfers inserts 8,000 transactions and 16,000 entries in one statement,
and PostgreSQL ran some 56,000 row-level checks for them: the deferred zero-sum trigger of
0005 per transaction, and the foreign keys (entry to account and to transaction, transaction
to tenant), each a lookup of its own. Together with the redundant indexes, about half the
database's work for the bulk. The same rules, held by PostgreSQL, now per statement:

- ``wallets_ledgertransaction_balanced`` (statement-level, with the statement's new rows):
  each new transaction has at least two entries summing to zero per currency, read in one
  range scan of the entries' transaction index, and its tenant exists (locked ``FOR KEY
  SHARE``, as a foreign key does). It runs at the end of the statement, no longer at
  COMMIT: a transaction and its entries are inserted by one statement
  (``wallets.posting``), as they always were on PostgreSQL;
- ``wallets_entry_appended`` (statement-level, as in 0006) also checks that each entry's
  account (locked ``FOR KEY SHARE``) and transaction exist. Ledger transactions are never
  deleted or updated (``wallets_append_only``), so nothing can take an entry's transaction
  away later;
- deleting an account that entries name, or a tenant that transactions name, is refused at
  COMMIT, as the deferred foreign keys did (``refuse_if_referenced``, events 0005). Unlike
  a foreign key, that check reads the deleting transaction's snapshot: under REPEATABLE
  READ it could miss rows another transaction committed meanwhile. The app deletes nothing
  the ledger names and runs at READ COMMITTED (its one REPEATABLE READ, the backup, only
  reads).

The indexes on ``wallets_entry.account_id`` and ``wallets_ledgertransaction.tenant_id`` go:
``entry_account_recent`` and ``ledgertxn_tenant_recent`` lead with those columns.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = r"""
DROP TRIGGER wallets_ledgertransaction_balanced ON wallets_ledgertransaction;
DROP FUNCTION wallets_transaction_balanced();

CREATE FUNCTION wallets_transactions_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
-- One query: lock the tenants named, count those missing, and find the first transaction
-- without two entries summing to zero per currency. The statement's ids come from one
-- sequence: their entries lie in one range of the entries' transaction index (with
-- those of whatever concurrent statements drew ids in between, read and left out by the
-- join on the statement's own rows).
DECLARE
    bad record;
    no_tenant uuid;
BEGIN
    WITH tenants AS (SELECT FROM tenants_tenant AS t
                      WHERE t.id IN (SELECT tenant_id FROM new_transactions) FOR KEY SHARE OF t)
    SELECT (SELECT count(DISTINCT tenant_id) FROM new_transactions)
               - (SELECT count(*) FROM tenants) AS missing_tenants,
           u.id, u.n, u.off
      INTO bad
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
         LIMIT 1) AS u ON true;
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
CREATE TRIGGER wallets_ledgertransaction_balanced AFTER INSERT ON wallets_ledgertransaction
    REFERENCING NEW TABLE AS new_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION wallets_transactions_balanced();

CREATE OR REPLACE FUNCTION wallets_entries_appended() RETURNS trigger LANGUAGE plpgsql AS $$
-- One query: lock the accounts named and count those missing; find an entry whose
-- transaction does not exist, and the transactions that this statement did not write:
-- those are summed again below. A row's (xmin, cmin) names the (sub)transaction and the
-- command that inserted it; the xid alone would let a later statement of the same
-- transaction add entries to a transaction posted earlier in it, unchecked (ledger rows
-- are never updated or deleted, so cmin is never a combo id).
DECLARE
    missing_accounts bigint;
    no_account uuid;
    no_transaction bigint;
    late bigint[];
    bad record;
BEGIN
    WITH accounts AS (SELECT FROM wallets_account AS a
                       WHERE a.id IN (SELECT account_id FROM new_entries) FOR KEY SHARE OF a)
    SELECT (SELECT count(DISTINCT account_id) FROM new_entries)
               - (SELECT count(*) FROM accounts),
           min(d.id) FILTER (WHERE t.id IS NULL),
           array_agg(d.id) FILTER (WHERE NOT (t.xmin = s.xmin AND t.cmin = s.cmin))
      INTO missing_accounts, no_transaction, late
      FROM (SELECT DISTINCT transaction_id AS id FROM new_entries) AS d
      LEFT JOIN wallets_ledgertransaction AS t ON t.id = d.id
     CROSS JOIN (SELECT e.xmin, e.cmin FROM wallets_entry AS e
                  WHERE e.id = (SELECT min(id) FROM new_entries)) AS s;
    IF missing_accounts > 0 THEN
        SELECT n.account_id INTO no_account FROM new_entries AS n
         WHERE NOT EXISTS (SELECT FROM wallets_account AS a WHERE a.id = n.account_id) LIMIT 1;
        RAISE EXCEPTION 'insert on table "wallets_entry" violates foreign key: account_id % is not present in table "wallets_account"',
            no_account USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF no_transaction IS NOT NULL THEN
        RAISE EXCEPTION 'insert on table "wallets_entry" violates foreign key: transaction_id % is not present in table "wallets_ledgertransaction"',
            no_transaction USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF late IS NULL THEN
        RETURN NULL;  -- the transactions are new: their own trigger sees every entry
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

-- Entries are append-only (wallets_append_only): their references never change.
CREATE CONSTRAINT TRIGGER wallets_entry_account_referenced
    AFTER DELETE OR UPDATE OF id ON wallets_account DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION refuse_if_referenced('wallets_entry', 'account_id');
CREATE CONSTRAINT TRIGGER wallets_ledgertransaction_tenant_referenced
    AFTER DELETE OR UPDATE OF id ON tenants_tenant DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION refuse_if_referenced('wallets_ledgertransaction', 'tenant_id');
"""

# Back to 0006's functions and 0005's deferred per-row check.
BACKWARD = r"""
DROP TRIGGER IF EXISTS wallets_ledgertransaction_tenant_referenced ON tenants_tenant;
DROP TRIGGER IF EXISTS wallets_entry_account_referenced ON wallets_account;
DROP TRIGGER IF EXISTS wallets_ledgertransaction_balanced ON wallets_ledgertransaction;
DROP FUNCTION IF EXISTS wallets_transactions_balanced();

CREATE FUNCTION wallets_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_count bigint;
    off text;
BEGIN
    SELECT coalesce(sum(n), 0), string_agg(currency || ' ' || total, ', ') FILTER (WHERE total <> 0)
      INTO entry_count, off
      FROM (SELECT currency, sum(amount) AS total, count(*) AS n
              FROM wallets_entry WHERE transaction_id = NEW.id
             GROUP BY currency) AS per_currency;
    IF entry_count = 0 THEN
        RAISE EXCEPTION 'ledger transaction % has no entries', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF entry_count < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entry; at least 2 are needed',
            NEW.id, entry_count USING ERRCODE = 'check_violation';
    END IF;
    IF off IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not sum to zero: %', NEW.id, off
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER wallets_ledgertransaction_balanced
    AFTER INSERT ON wallets_ledgertransaction DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION wallets_transaction_balanced();

CREATE OR REPLACE FUNCTION wallets_entries_appended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    statement_xmin xid;
    late bigint[];
    bad record;
BEGIN
    SELECT e.xmin INTO statement_xmin
      FROM wallets_entry e WHERE e.id = (SELECT min(id) FROM new_entries);
    SELECT array_agg(d.id) INTO late
      FROM (SELECT DISTINCT transaction_id AS id FROM new_entries) AS d
     WHERE NOT ((SELECT t.xmin FROM wallets_ledgertransaction t WHERE t.id = d.id)
                = statement_xmin);
    IF late IS NULL THEN
        RETURN NULL;
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
        ("events", "0005_references_checked_per_statement"),  # refuse_if_referenced
        ("tenants", "0003_audit_actor_label_fits_any_email"),
        ("wallets", "0009_ledger_transaction_time_brin"),
    ]

    operations = [
        migrations.AlterField(
            model_name="entry",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="wallets.account",
            ),
        ),
        migrations.AlterField(
            model_name="entry",
            name="transaction",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="wallets.ledgertransaction",
            ),
        ),
        migrations.AlterField(
            model_name="ledgertransaction",
            name="tenant",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="ledger_transactions",
                to="tenants.tenant",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
