"""Check each transaction's balance once, not once per entry (no-op outside PostgreSQL).

Migration 0002 checked the zero sum from a deferred trigger on every *entry*: a bulk of
8,000 transfers ran 16,000 identical checks at COMMIT. Now:

- a DEFERRABLE INITIALLY DEFERRED constraint trigger on each *transaction* checks, at
  COMMIT, that it has at least two entries and that they sum to zero per currency;
- entries added later to a transaction that an earlier (sub)transaction wrote, which that
  deferred check would not see again, are checked at once by a statement-level trigger
  (one set-based query per INSERT statement): the transaction must still balance.
"""

from django.db import migrations

FORWARD = r"""
DROP TRIGGER IF EXISTS wallets_entry_balanced ON wallets_entry;
DROP FUNCTION IF EXISTS wallets_entries_balanced();
DROP TRIGGER IF EXISTS wallets_ledgertransaction_has_entries ON wallets_ledgertransaction;
DROP FUNCTION IF EXISTS wallets_transaction_has_entries();

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

CREATE FUNCTION wallets_entries_appended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    statement_xmin xid;
    bad record;
BEGIN
    -- Every row of this statement carries the xid of the (sub)transaction running it.
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

CREATE TRIGGER wallets_entry_appended
    AFTER INSERT ON wallets_entry REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION wallets_entries_appended();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS wallets_entry_appended ON wallets_entry;
DROP FUNCTION IF EXISTS wallets_entries_appended();
DROP TRIGGER IF EXISTS wallets_ledgertransaction_balanced ON wallets_ledgertransaction;
DROP FUNCTION IF EXISTS wallets_transaction_balanced();

CREATE FUNCTION wallets_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_count bigint;
    off text;
BEGIN
    SELECT sum(n), string_agg(currency || ' ' || total, ', ') FILTER (WHERE total <> 0)
      INTO entry_count, off
      FROM (SELECT currency, sum(amount) AS total, count(*) AS n
              FROM wallets_entry WHERE transaction_id = NEW.transaction_id
             GROUP BY currency) AS per_currency;
    IF entry_count < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entry; at least 2 are needed',
            NEW.transaction_id, entry_count USING ERRCODE = 'check_violation';
    END IF;
    IF off IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not sum to zero: %', NEW.transaction_id, off
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER wallets_entry_balanced
    AFTER INSERT ON wallets_entry DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION wallets_entries_balanced();

CREATE FUNCTION wallets_transaction_has_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM wallets_entry WHERE transaction_id = NEW.id LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger transaction % has no entries', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER wallets_ledgertransaction_has_entries
    AFTER INSERT ON wallets_ledgertransaction DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION wallets_transaction_has_entries();
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
    dependencies = [("wallets", "0004_idempotency_body_encoder")]

    operations = [migrations.RunPython(forward, backward)]
