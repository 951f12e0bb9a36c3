"""The accounts' daily roll-up (``AccountDay``) that the charts read on PostgreSQL.

PostgreSQL keeps it in step with the ledger itself: a statement-level trigger on the
entries (migration 0011) adds, for each INSERT, one row per virtual account, day and
currency the statement touched, in the same transaction as the entries. Platform accounts
(settlement, fees, FX desks) are left out: no chart shows them, and the settlement account
is in nearly every deposit and withdrawal.

The trigger only inserts. An upsert into one row per account and day would lock that row
from the INSERT of the entries to the COMMIT: the posting inserts *before* it locks its
accounts (``wallets.locking``), so a hot account would be held for longer, and two
postings that take the same rows in another order (one posting twice in a transaction,
a bulk in ``independent`` mode, which locks first) could deadlock. Instead, a chart draw
folds the rows of its window into one per key first (``compact``), and readers sum.

The days are cut in the dashboard's time zone (``TIME_ZONE``), which
``wallets_account_days_zone()`` names; ``migrate`` cuts them anew when it changed
(``recut_if_zone_changed``). Entries are append-only (``wallets_append_only``), so rows
never need to be taken back; a TRUNCATE of the entries (test databases) empties the
roll-up too.

Each ledger transaction counts once per node that it moves (on the node's first entry in
the transaction's currency, or its first entry at all) and once per tenant (on its first
entry of a virtual account), in the transaction's currency: what the chart "money moved"
showed when it summed the transactions. This holds for entries inserted together with
their transaction, as ``wallets.posting`` does; entries added to a transaction by a later
statement would count it again.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.utils import timezone

from sandbox import clock
from wallets.models import Account

COLUMNS = (
    "account_id, day, currency, first_entry_id, net, node_moved, node_transactions, "
    "tenant_moved, tenant_transactions"
)


def rows_from(entries: str, *, per_statement: bool = True) -> str:
    """The roll-up rows of ``entries`` (a transition table, or ``wallets_entry`` itself
    with ``per_statement=False``), one per virtual account, day and currency: the
    trigger's query and the backfill's (``rebuild``). A transaction's first entry per node
    (and of all), in its currency if the node has one, carries its gross amount and a
    count of 1, in the transaction's currency.

    Migration 0011 runs a frozen copy of both, as they were when it was written; a test
    checks that the live trigger still runs this query (a new trigger comes with a new
    migration, and with this query changed alike).

    The trigger's plan is made once per connection and kept whatever the size of later
    statements, so it looks each account and transaction up by its key (``OFFSET 0``
    keeps the lookups from turning into a join, which a plan made for a bulk would hash
    over the whole table for every later single transfer)."""
    if per_statement:
        lookups = """
         CROSS JOIN LATERAL (SELECT a.wallet_id FROM wallets_account AS a
                              WHERE a.id = e.account_id OFFSET 0) AS a
         CROSS JOIN LATERAL (SELECT t.currency, t.amount FROM wallets_ledgertransaction AS t
                              WHERE t.id = e.transaction_id OFFSET 0) AS t"""
    else:
        lookups = """
          JOIN wallets_account AS a ON a.id = e.account_id
          JOIN wallets_ledgertransaction AS t ON t.id = e.transaction_id"""
    return f"""
SELECT x.account_id, x.day, c.currency, min(x.id), sum(c.net), sum(c.node_moved),
       sum(c.node_transactions), sum(c.tenant_moved), sum(c.tenant_transactions)
  FROM (SELECT e.id, e.account_id, e.currency, e.amount,
               (e.posted_at AT TIME ZONE wallets_account_days_zone())::date AS day,
               t.currency AS txn_currency, t.amount AS txn_amount,
               e.id = coalesce(min(e.id) FILTER (WHERE e.currency = t.currency) OVER node,
                               min(e.id) OVER node) AS node_first,
               e.id = coalesce(min(e.id) FILTER (WHERE e.currency = t.currency) OVER txn,
                               min(e.id) OVER txn) AS tenant_first
          FROM {entries} AS e{lookups}
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


def zone_function(zone: str) -> str:
    # Inlined into the trigger's plan as a constant (an immutable SQL function). As
    # migration 0011 made it (its own copy): ``rebuild`` makes it again for a new zone.
    literal = zone.replace("'", "''")
    return (
        "CREATE OR REPLACE FUNCTION wallets_account_days_zone() RETURNS text "
        f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '{literal}'::text $$"
    )


def rebuild(using: BaseDatabaseWrapper = connection) -> None:
    """Recompute the whole roll-up from the entries, with the days cut in ``TIME_ZONE``
    (PostgreSQL; a load that bypassed the trigger, or a change of time zone). One
    transaction: the TRUNCATE's lock, held to the COMMIT, makes postings wait for the
    backfill, so an entry committed between the two is not counted twice."""
    with transaction.atomic(using=using.alias), using.cursor() as cursor:
        cursor.execute(zone_function(settings.TIME_ZONE))
        cursor.execute("TRUNCATE wallets_accountday")
        cursor.execute(
            f"INSERT INTO wallets_accountday ({COLUMNS}) "
            + rows_from("wallets_entry", per_statement=False)
        )


def recut_if_zone_changed(using: str = DEFAULT_DB_ALIAS, **_: Any) -> None:
    """``post_migrate``: cut the days anew when ``TIME_ZONE`` is no longer the roll-up's."""
    database = connections[using]
    if database.vendor != "postgresql":
        return
    with database.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('wallets_account_days_zone()') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return  # migrated backwards, before 0011
        cursor.execute("SELECT wallets_account_days_zone()")
        if cursor.fetchone()[0] == settings.TIME_ZONE:
            return
    rebuild(database)


# The advisory lock key that lets one fold run at a time ("AccountDay" in ASCII).
FOLD_LOCK = 0x4163636F756E74446179 % (1 << 63)
# The nightly fold reaches back this many days: postings are dated by the platform clock,
# which an operator may set back or freeze (``PlatformClock``), so recent days can gain
# rows after their night has passed.
FOLD_DAYS_BACK = 3


def fold_start() -> date:
    """The first day the nightly fold reads: ``FOLD_DAYS_BACK`` days before today (the
    platform clock's, in the dashboard's time zone)."""
    return timezone.localtime(clock.now()).date() - timedelta(days=FOLD_DAYS_BACK)


def compact(accounts: QuerySet[Account] | None, *, since: date) -> int:
    """Fold the rows of ``accounts`` (None: every account) from ``since`` on into one per
    account, day and currency, before a chart reads them, and nightly for the accounts no
    chart reads (``wallets.tasks.fold_account_days``). Deletes and inserts only rows that
    the trigger wrote and no one updates, so postings never wait for it. One fold at a
    time (a transaction-level advisory lock): two folds over the same rows would delete
    them in different orders and could deadlock; as readers sum the rows anyway, a fold
    that finds another under way is skipped. Returns how many rows it folded away."""
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK])
            if not cursor.fetchone()[0]:
                return 0
        return _fold(accounts, since)


def _fold(accounts: QuerySet[Account] | None, since: date) -> int:
    if accounts is None:
        which, params = "TRUE", []
    else:
        subquery, subquery_params = accounts.order_by().values("pk").query.sql_with_params()
        which, params = f"account_id IN ({subquery})", list(subquery_params)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
WITH gone AS (
    DELETE FROM wallets_accountday AS r
     USING (SELECT account_id, day, currency FROM wallets_accountday
             WHERE {which} AND day >= %s
             GROUP BY account_id, day, currency HAVING count(*) > 1) AS k
     WHERE r.account_id = k.account_id AND r.day = k.day AND r.currency = k.currency
 RETURNING r.*
), folded AS (
    INSERT INTO wallets_accountday ({COLUMNS})
    SELECT account_id, day, currency, min(first_entry_id), sum(net), sum(node_moved),
           sum(node_transactions), sum(tenant_moved), sum(tenant_transactions)
      FROM gone GROUP BY account_id, day, currency
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM folded)""",
            [*params, since],
        )
        return int(cursor.fetchone()[0])
