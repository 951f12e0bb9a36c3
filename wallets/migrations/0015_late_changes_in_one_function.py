"""The late-locked accounts' changes in one call that raises a named error (no-op outside
PostgreSQL).

A single transfer reads its accounts without locking them and changes them with the
COMMIT's message (``wallets.locking.apply_late``). That took one prepared statement per
account, each an UPDATE in a CTE whose refusal (the account closed, or a debit no longer
covered) was made to fail by casting a text to an integer: plain SQL has no RAISE, so
``late_refused`` matched SQLSTATE 22P02 and the message. Now one PL/pgSQL function
changes every account of the call, in the order given, and refuses with SQLSTATE
``SBL01`` (a code of our own, which nothing else raises), naming the account. Same
guards, same order, same rollback.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION wallets_apply_late(account_ids uuid[], posted_deltas bigint[],
                                   version_deltas bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
-- Each UPDATE takes the row's lock and applies only if the account is still open and,
-- for a debit, still covers it: the checks the posting made on its unlocked read, made
-- again on the locked row. The caller gives the accounts in ascending id order.
BEGIN
    FOR i IN 1 .. coalesce(array_length(account_ids, 1), 0) LOOP
        UPDATE wallets_account
           SET posted_balance = posted_balance + posted_deltas[i],
               lock_version = lock_version + version_deltas[i]
         WHERE id = account_ids[i] AND status = 'open'
           AND (posted_deltas[i] >= 0 OR allow_overdraft
                OR posted_balance + posted_deltas[i] >= held_balance);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'late account change refused: %', account_ids[i]
                USING ERRCODE = 'SBL01';
        END IF;
    END LOOP;
END $$;
"""

BACKWARD = "DROP FUNCTION wallets_apply_late(uuid[], bigint[], bigint[]);"


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the '%' of RAISE stays as written


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0014_account_days_fold_schedule"),
    ]

    operations = [migrations.RunPython(forward, backward)]
