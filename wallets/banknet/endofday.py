"""Each node's end of day: at every midnight of the node's time zone, on the node's clock,
a daily statement of its virtual accounts is recorded and sent as ``balance.end_of_day``.

The schedule perpetuates itself: each close schedules the next midnight (one scheduled
action per node-day, key ``eod:<node>:<date>``). It starts when a node is created
(``node_create`` calls it through the hook ``BanknetConfig.ready()`` registers), is
re-anchored when a node joins or leaves a test clock (its time jumps), and starts for nodes
older than this feature through the ``banknet.end_of_day_start`` actions of migration 0003.
Under a test clock, advancing across N midnights closes N days, in order; on the platform
clock the beat sweep runs each close within seconds of midnight.

Figures come from the ledger's entries as running sums per account (credits, debits, number
of transactions) taken at the close; a day's figures are the difference from the previous
close. Entries are append-only, so every later close sees a superset of the earlier one, and
opening + credits - debits = closing holds for every statement. On the platform clock only
entries posted before the midnight count (their ``posted_at`` is platform time); on a test
clock the close runs while the clock stands at midnight, so everything posted so far counts.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from sandbox import clock
from sandbox.currencies import to_decimal_string
from sandbox.events import scheduling
from sandbox.events.models import ClockAttachment, ScheduledAction
from sandbox.events.services import event_record
from sandbox.tenants.models import Node
from wallets.banknet.models import EndOfDay
from wallets.models import Account, Entry

KIND = "banknet.end_of_day"
START_KIND = "banknet.end_of_day_start"
EVENT_TYPE = "balance.end_of_day"

DEFAULT_TIME_ZONE = "Asia/Seoul"
# A country's main time zone (the one its banks' day follows); other countries use Seoul's.
COUNTRY_TIME_ZONES = {
    "AU": "Australia/Sydney",
    "CA": "America/Toronto",
    "CN": "Asia/Shanghai",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "HK": "Asia/Hong_Kong",
    "ID": "Asia/Jakarta",
    "IN": "Asia/Kolkata",
    "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul",
    "PH": "Asia/Manila",
    "SG": "Asia/Singapore",
    "TH": "Asia/Bangkok",
    "TW": "Asia/Taipei",
    "US": "America/New_York",
    "VN": "Asia/Ho_Chi_Minh",
}


def node_time_zone(node: Node) -> str:
    return COUNTRY_TIME_ZONES.get(str(node.country), DEFAULT_TIME_ZONE)


def _midnight(day: date, zone: str) -> datetime:
    """The start of ``day`` in ``zone`` (an aware datetime)."""
    return datetime.combine(day, time(0), ZoneInfo(zone))


def _key(node: Node, day: date) -> str:
    return f"eod:{node.pk}:{day.isoformat()}"


def _schedule_close(node: Node, day: date) -> ScheduledAction:
    """The close of ``day``, due at the midnight that ends it. Idempotent per node-day."""
    zone = node_time_zone(node)
    due = _midnight(day + timedelta(days=1), zone)
    key = _key(node, day)
    action = scheduling.schedule(
        kind=KIND, node=node, due_at=due, payload={"date": day.isoformat()}, key=key
    )
    if action.status == ScheduledAction.Status.CANCELLED:
        scheduling.reopen(kind=KIND, key=key, due_at=due)
    return action


def _local_today(node: Node) -> date:
    return clock.now(node_id=node.pk).astimezone(ZoneInfo(node_time_zone(node))).date()


@transaction.atomic
def end_of_day_start(*, node: Node) -> ScheduledAction | None:
    """Schedule the node's next close (the coming midnight of its time, or the day after its
    last statement if that is later) and cancel any other pending close: a node has one.
    Called when a node is created and whenever its time jumps; safe to call again."""
    if not node.is_active:
        return None
    last = EndOfDay.objects.filter(node=node).aggregate(last=Max("date"))["last"]
    day = _local_today(node)
    if last is not None and last >= day:
        day = last + timedelta(days=1)
    ScheduledAction.objects.filter(
        node=node, kind=KIND, status=ScheduledAction.Status.PENDING
    ).exclude(key=_key(node, day)).update(
        status=ScheduledAction.Status.CANCELLED, finished_at=timezone.now()
    )
    return _schedule_close(node, day)


def _running_totals(node: Node, until: datetime | None) -> dict[str, list[int]]:
    """Per account of the node: [credits, debits (<= 0), transactions] over every entry
    (before ``until``, if given)."""
    entries = Entry.objects.filter(account__wallet__node=node)
    if until is not None:
        entries = entries.filter(posted_at__lt=until)
    rows = entries.values("account_id").annotate(
        credits=Coalesce(Sum("amount", filter=Q(amount__gt=0)), 0),
        debits=Coalesce(Sum("amount", filter=Q(amount__lt=0)), 0),
        transactions=Count("transaction_id", distinct=True),
    )
    return {
        str(row["account_id"]): [row["credits"], row["debits"], row["transactions"]] for row in rows
    }


def _statement(
    node: Node, day: date, zone: str, totals: dict[str, list[int]], previous: dict
) -> dict[str, Any]:
    lines = []
    accounts = Account.objects.filter(wallet__node=node).order_by("created_at", "id")
    for account in accounts:
        key = str(account.pk)
        credits, debits, count = totals.get(key, [0, 0, 0])
        before = previous.get(key, [0, 0, 0])
        day_credits, day_debits, day_count = (
            credits - before[0],
            before[1] - debits,  # money out, as a positive amount
            count - before[2],
        )
        if not account.is_open and not day_count:
            continue  # a closed account drops out once a day passes without activity
        currency = account.currency
        lines.append(
            {
                "account": key,
                "name": account.name,
                "bank_code": account.bank_code,
                "account_number": account.account_number,
                "currency": currency,
                "opening_balance": to_decimal_string(before[0] + before[1], currency),
                "closing_balance": to_decimal_string(credits + debits, currency),
                "credits": to_decimal_string(day_credits, currency),
                "debits": to_decimal_string(day_debits, currency),
                "transaction_count": day_count,
            }
        )
    return {
        "node": str(node.pk),
        "date": day.isoformat(),
        "time_zone": zone,
        "period_start": _midnight(day, zone).isoformat(),
        "period_end": _midnight(day + timedelta(days=1), zone).isoformat(),
        "accounts": lines,
    }


@transaction.atomic
def end_of_day_close(*, node_id, day: date) -> EndOfDay | None:
    """Close ``day`` for the node: record its statement and event once, then schedule the
    next close. Safe to run twice (one statement per node-day: a unique constraint). Does
    nothing for a deactivated node, or for a day its clock has not finished (a clock that
    was moved back since the close was scheduled: ``end_of_day_start`` scheduled anew)."""
    node = Node.objects.select_related("tenant").filter(pk=node_id).first()
    if node is None or not node.is_active:
        return None
    last = EndOfDay.objects.filter(node=node).order_by("-date").only("date", "totals").first()
    if (last is not None and day < last.date) or _local_today(node) <= day:
        return None  # a stale schedule: the node's current one is elsewhere
    if last is not None and last.date == day:
        _schedule_close(node, day + timedelta(days=1))
        return last
    zone = node_time_zone(node)
    closed_at = _midnight(day + timedelta(days=1), zone)
    on_test_clock = ClockAttachment.objects.filter(node=node).exists()
    totals = _running_totals(node, until=None if on_test_clock else closed_at)
    statement = _statement(node, day, zone, totals, last.totals if last is not None else {})
    try:
        with transaction.atomic():
            end_of_day = EndOfDay.objects.create(
                tenant=node.tenant,
                node=node,
                date=day,
                time_zone=zone,
                closed_at=closed_at,
                statement=statement,
                totals=totals,
            )
    except IntegrityError:
        return EndOfDay.objects.get(node=node, date=day)  # closed concurrently
    event_record(tenant=node.tenant, node=node, type=EVENT_TYPE, obj=end_of_day, data=statement)
    _schedule_close(node, day + timedelta(days=1))
    return end_of_day
