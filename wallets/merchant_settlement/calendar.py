"""Korean business days and the settlement cycles' dates, in Korean time.

A business day is a weekday that is not a public holiday of South Korea, as the
``holidays`` package knows them (substitute holidays included: Chuseok falling on a Sunday
moves a day off to the Monday).

Each cycle runs at 10:00 (Asia/Seoul) of its *run date*, when Korean banks are open and out
of their night maintenance, and settles what was paid before its *cutoff* (a midnight,
Asia/Seoul):

* daily, T+n: the sales of day D are paid on ``pay_date(D) = D + n business days``. Only
  business days are run dates; the run of day P settles every day D with pay_date(D) <= P,
  so a Monday (T+1) settles Friday, Saturday and Sunday, and a run after Chuseok settles
  everything the holidays held back;
* weekly: Monday to Sunday, run on the first business day from the Monday after;
* monthly: a calendar month, run on the first business day from the 1st after.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

TIME_ZONE = ZoneInfo("Asia/Seoul")
RUN_TIME = time(10, 0)
ONE_DAY = timedelta(days=1)


@functools.lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("KR", years=year))


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_business_days(day: date, n: int) -> date:
    """The n-th business day after ``day``."""
    for _ in range(n):
        day += ONE_DAY
        while not is_business_day(day):
            day += ONE_DAY
    return day


def first_business_day_from(day: date) -> date:
    while not is_business_day(day):
        day += ONE_DAY
    return day


def _period_start(cycle: str, day: date) -> date:
    """The start of the (weekly or monthly) period whose boundary ``day`` follows."""
    if cycle == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def is_run_date(cycle: str, delay_days: int, day: date) -> bool:
    if cycle == "daily":
        return is_business_day(day)
    return day == first_business_day_from(_period_start(cycle, day))


def next_run_date(cycle: str, delay_days: int, after: date) -> date:
    """The first run date strictly after ``after``."""
    day = after + ONE_DAY
    while not is_run_date(cycle, delay_days, day):
        day += ONE_DAY
    return day


def cutoff_date(cycle: str, delay_days: int, run_date: date) -> date:
    """The run's cutoff, as the day at whose start (00:00 KST) it falls."""
    if cycle != "daily":
        return _period_start(cycle, run_date)
    day = run_date - ONE_DAY
    while add_business_days(day, delay_days) > run_date:
        day -= ONE_DAY
    return day + ONE_DAY


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), TIME_ZONE)


def run_at(run_date: date) -> datetime:
    return datetime.combine(run_date, RUN_TIME, TIME_ZONE)


def local_date(moment: datetime) -> date:
    return moment.astimezone(TIME_ZONE).date()
