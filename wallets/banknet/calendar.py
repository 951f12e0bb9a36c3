"""When a bank works: business days and hours, and the nightly maintenance window, in the
bank's own time zone. Times passed in and out are aware datetimes (node time)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from wallets.banknet.models import Bank


def local(bank: Bank, when: datetime) -> datetime:
    return when.astimezone(ZoneInfo(bank.timezone))


def _within(start: time, end: time, moment: time) -> bool:
    """Is ``moment`` in [start, end), for windows that may cross midnight?"""
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


def in_maintenance(bank: Bank, when: datetime) -> bool:
    if bank.maintenance_starts_at is None or bank.maintenance_ends_at is None:
        return False
    moment = local(bank, when).time()
    return _within(bank.maintenance_starts_at, bank.maintenance_ends_at, moment)


def is_business_time(bank: Bank, when: datetime) -> bool:
    here = local(bank, when)
    if str(here.weekday()) not in bank.business_days:
        return False
    if bank.opens_at == bank.closes_at:
        return True
    return _within(bank.opens_at, bank.closes_at, here.time())


def can_process(bank: Bank, when: datetime) -> bool:
    return is_business_time(bank, when) and not in_maintenance(bank, when)


def next_processing_time(bank: Bank, when: datetime) -> datetime:
    """The first moment at or after ``when`` when the bank works and is not in maintenance."""
    if can_process(bank, when):
        return when
    zone = ZoneInfo(bank.timezone)
    start = local(bank, when)
    for day in range(0, 9):
        date = start.date() + timedelta(days=day)
        candidates = [datetime.combine(date, bank.opens_at, zone)]
        if bank.maintenance_ends_at is not None:
            candidates.append(datetime.combine(date, bank.maintenance_ends_at, zone))
        for candidate in sorted(candidates):
            if candidate >= start and can_process(bank, candidate):
                return candidate.astimezone(when.tzinfo)
    raise ValueError(f"Bank {bank.code} never opens: check its business days and hours.")
