"""PostgreSQL enforces the ledger's rules itself (no-ops on other databases); see also 0005.

- Every transaction's entries sum to zero per currency, and there are at least two:
  a DEFERRABLE INITIALLY DEFERRED constraint trigger, checked at COMMIT, when all of a
  transaction's entries are in.
- A ledger transaction has entries: the same, on the transaction row.
- Entries and ledger transactions are append-only: UPDATE and DELETE are refused (a
  correction is a reversal). TRUNCATE, used only to reset test databases, is not.
Balances are guarded by the CHECK constraints of migration 0001.
"""

from django.db import migrations

FORWARD = r"""
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

CREATE FUNCTION wallets_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (post a reversal instead)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER wallets_entry_append_only
    BEFORE UPDATE OR DELETE ON wallets_entry
    FOR EACH STATEMENT EXECUTE FUNCTION wallets_append_only();

CREATE TRIGGER wallets_ledgertransaction_append_only
    BEFORE UPDATE OR DELETE ON wallets_ledgertransaction
    FOR EACH STATEMENT EXECUTE FUNCTION wallets_append_only();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS wallets_ledgertransaction_append_only ON wallets_ledgertransaction;
DROP TRIGGER IF EXISTS wallets_entry_append_only ON wallets_entry;
DROP FUNCTION IF EXISTS wallets_append_only();
DROP TRIGGER IF EXISTS wallets_ledgertransaction_has_entries ON wallets_ledgertransaction;
DROP FUNCTION IF EXISTS wallets_transaction_has_entries();
DROP TRIGGER IF EXISTS wallets_entry_balanced ON wallets_entry;
DROP FUNCTION IF EXISTS wallets_entries_balanced();
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
    dependencies = [("wallets", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
