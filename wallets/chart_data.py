"""What the wallets' charts show, computed by the database: per-day sums with the day cut in
the dashboard's time zone, never a Python loop over rows, plus the accounts' stored
balances.

On PostgreSQL a chart reads the accounts' daily roll-up (``AccountDay``, kept by the
database with the ledger: ``wallets.account_days``), about one row per account and day of
the window, whatever the ledger's size. Elsewhere (SQLite, the zero-setup default) it sums
the entries and transactions of the window instead (``entry_account_recent`` and
``ledgertxn_tenant_recent`` serve the range); both give the same figures.

Amounts stay integers in minor units; the pages turn them into decimals for the chart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.safestring import SafeString

from sandbox import clock
from sandbox.chart_cache import cached_charts
from sandbox.charts import Series, bar_chart, line_chart
from sandbox.currencies import to_decimal_string
from sandbox.tenants.models import Tenant
from wallets import account_days
from wallets.models import Account, AccountDay, Entry, LedgerTransaction

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class DailySeries:
    """One line of a chart: a label, its currency, and a value per day (minor units)."""

    label: str
    currency: str
    points: list[tuple[date, int]]


def chart_window(days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """The first and last day a chart shows: the last ``days`` days up to today (the
    platform clock's, in the dashboard's time zone)."""
    today = timezone.localtime(clock.now()).date()
    return today - timedelta(days=days - 1), today


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _rolled_up() -> bool:
    """Whether the database keeps the daily roll-up (PostgreSQL: migration 0011)."""
    return connection.vendor == "postgresql"


def _charted_accounts(tenant: Tenant, node_id: Any) -> QuerySet[Account]:
    """The accounts a chart shows: the tenant's virtual accounts (of one node, if given),
    scoped by the model manager's ``for_tenant``. Every read of the roll-up or of the
    entries goes through it, so another tenant's rows cannot come along."""
    accounts = Account.objects.for_tenant(tenant).filter(kind=Account.Kind.CUSTOMER)
    if node_id is not None:
        accounts = accounts.filter(wallet__node_id=node_id)
    return accounts


def balance_history(
    *, tenant: Tenant, node_id: Any = None, days: int = DEFAULT_DAYS
) -> list[DailySeries]:
    """The posted balance at the end of each day, per node and currency, over the last
    ``days`` days. Counted back from the accounts' stored balances (one grouped read) minus
    the entries posted after each day (one grouped read of the window's roll-up, or of its
    entries), so its cost follows the window, not the ledger's age. Entries dated after
    today (a node on a test clock ahead of the platform) count into the last day."""
    first, last = chart_window(days)
    accounts = _charted_accounts(tenant, node_id)
    current = (
        accounts.order_by()
        .values("wallet__node_id", "wallet__node__name", "currency")
        .annotate(posted=Sum("posted_balance"))
    )
    flows: Iterable[Mapping[str, Any]]
    if _rolled_up():
        flows = (
            AccountDay.objects.filter(account__in=accounts, day__gte=first)
            .order_by()
            .values("account__wallet__node_id", "currency", "day")
            .annotate(net=Sum("net"))
        )
    else:
        flows = (
            Entry.objects.filter(account__in=accounts, posted_at__gte=_start_of(first))
            .annotate(day=TruncDate("posted_at", tzinfo=timezone.get_current_timezone()))
            .order_by()
            .values("account__wallet__node_id", "currency", "day")
            .annotate(net=Sum("amount"))
        )
    net_by_day: dict[tuple[Any, str], dict[date, int]] = defaultdict(dict)
    for flow in flows:
        key = (flow["account__wallet__node_id"], flow["currency"])
        day = min(flow["day"], last)
        net_by_day[key][day] = net_by_day[key].get(day, 0) + flow["net"]
    series = []
    for row in sorted(current, key=lambda r: (r["wallet__node__name"], r["currency"])):
        key = (row["wallet__node_id"], row["currency"])
        balance = row["posted"] or 0
        points: list[tuple[date, int]] = []
        for day in reversed(_days(first, last)):
            points.append((day, balance))
            balance -= net_by_day[key].get(day, 0)  # the balance at the end of the day before
        points.reverse()
        label = row["wallet__node__name"] if node_id is None else row["currency"]
        series.append(DailySeries(label=label, currency=row["currency"], points=points))
    return series


@dataclass(frozen=True)
class VolumeSeries:
    currency: str
    amounts: list[tuple[date, int]]
    counts: list[tuple[date, int]]


def transfer_volume(
    *, tenant: Tenant, node_id: Any = None, days: int = DEFAULT_DAYS
) -> list[VolumeSeries]:
    """Money moved per day and currency (the gross amount of every ledger transaction, and
    how many), over the last ``days`` days, days without any shown as 0: the transactions
    that move any of the node's virtual accounts, or of the tenant's (one that moves only
    platform accounts, such as a returned withdrawal parked in suspense, moves none of
    them), each counted once, in its own currency."""
    first, last = chart_window(days)
    if _rolled_up():
        if node_id is None:
            moved, count = ("tenant_moved", "tenant_transactions")
        else:
            moved, count = ("node_moved", "node_transactions")
        rows = (
            AccountDay.objects.filter(
                account__in=_charted_accounts(tenant, node_id),
                day__gte=first,
                day__lte=last,
                **{f"{count}__gt": 0},
            )
            .order_by()
            .values("currency", "day")
            .annotate(total=Sum(moved), count=Sum(count))
        )
    else:
        rows = _volume_summed(tenant=tenant, node_id=node_id, first=first, last=last)
    totals: dict[str, dict[date, tuple[int, int]]] = defaultdict(dict)
    for row in rows:
        totals[row["currency"]][row["day"]] = (row["total"], row["count"])
    return [
        VolumeSeries(
            currency=currency,
            amounts=[(day, by_day.get(day, (0, 0))[0]) for day in _days(first, last)],
            counts=[(day, by_day.get(day, (0, 0))[1]) for day in _days(first, last)],
        )
        for currency, by_day in sorted(totals.items())
    ]


def _volume_summed(*, tenant: Tenant, node_id: Any, first: date, last: date) -> Any:
    """Without the roll-up: the ledger transactions of the window that move one of the
    charted accounts, summed per day."""
    transactions = LedgerTransaction.objects.for_tenant(tenant).filter(
        posted_at__gte=_start_of(first), posted_at__lt=_start_of(last + timedelta(days=1))
    )
    charted = Entry.objects.filter(
        transaction=OuterRef("pk"), account__in=_charted_accounts(tenant, node_id)
    )
    transactions = transactions.filter(Exists(charted))
    return (
        transactions.annotate(day=TruncDate("posted_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("currency", "day")
        .annotate(total=Sum("amount"), count=Count("id"))
    )


# --- The charts drawn from them ------------------------------------------------------------


def _decimal(minor_units: int, currency: str) -> Decimal:
    return Decimal(to_decimal_string(minor_units, currency))


def wallet_charts(
    *, tenant: Tenant, node_id: Any = None, days: int = DEFAULT_DAYS
) -> list[SafeString]:
    """The wallets pages' charts: per currency, the day-end balance of each node (or, for
    one node, of that node) and the money moved per day; drawn at most once a minute."""
    key = f"wallets:{tenant.pk}:{node_id or 'all'}:{days}:{chart_window(days)[1]}"
    return cached_charts(key, lambda: _wallet_charts(tenant=tenant, node_id=node_id, days=days))


def _wallet_charts(*, tenant: Tenant, node_id: Any, days: int) -> list[SafeString]:
    # What posting added since the last draw, one row per statement, folded first.
    account_days.compact(_charted_accounts(tenant, node_id), since=chart_window(days)[0])
    balances = balance_history(tenant=tenant, node_id=node_id, days=days)
    charts: list[SafeString] = []
    for currency in sorted({s.currency for s in balances}):
        lines = [
            Series(s.label, [(day, _decimal(v, currency)) for day, v in s.points])
            for s in balances
            if s.currency == currency
        ]
        charts.append(line_chart(lines, title=f"Balance at day end, {currency}", unit=currency))
    for volume in transfer_volume(tenant=tenant, node_id=node_id, days=days):
        bars = [(day.strftime("%m-%d"), _decimal(v, volume.currency)) for day, v in volume.amounts]
        charts.append(
            bar_chart(bars, title=f"Money moved per day, {volume.currency}", unit=volume.currency)
        )
    return charts
