"""Korean business days from the holidays package, and the cycles' run dates and cutoffs:
T+n across Chuseok 2026 (Thursday 24 to Saturday 26 September) and across weekends."""

from __future__ import annotations

from datetime import date

import pytest

from wallets.merchant_settlement import calendar


def test_chuseok_and_weekends_are_not_business_days():
    assert [calendar.is_business_day(date(2026, 9, d)) for d in range(22, 30)] == [
        True,  # Tue 22
        True,  # Wed 23
        False,  # Thu 24: the day before Chuseok
        False,  # Fri 25: Chuseok
        False,  # Sat 26
        False,  # Sun 27
        True,  # Mon 28
        True,  # Tue 29
    ]
    assert not calendar.is_business_day(date(2026, 3, 2))  # substitute holiday (3.1 on Sunday)


@pytest.mark.parametrize(
    ("sold", "n", "paid"),
    [
        (date(2026, 9, 15), 1, date(2026, 9, 16)),  # Tuesday -> Wednesday
        (date(2026, 9, 18), 1, date(2026, 9, 21)),  # Friday -> Monday (weekend)
        (date(2026, 9, 19), 1, date(2026, 9, 21)),  # Saturday -> Monday
        (date(2026, 9, 23), 1, date(2026, 9, 28)),  # Wednesday -> Monday, over Chuseok
        (date(2026, 9, 22), 2, date(2026, 9, 28)),  # T+2: Wednesday, then Monday
        (date(2026, 9, 24), 3, date(2026, 9, 30)),  # sold on a holiday: Mon, Tue, Wed
        (date(2026, 2, 27), 1, date(2026, 3, 3)),  # Friday, weekend, 3.1 substitute Monday
    ],
)
def test_t_plus_n_counts_korean_business_days(sold, n, paid):
    assert calendar.add_business_days(sold, n) == paid


def test_a_daily_run_after_chuseok_settles_every_day_it_held_back():
    # T+1: the run of Monday 28 September settles sales from Wednesday 23 to Sunday 27.
    assert calendar.next_run_date("daily", 1, date(2026, 9, 23)) == date(2026, 9, 28)
    assert calendar.cutoff_date("daily", 1, date(2026, 9, 23)) == date(2026, 9, 23)
    assert calendar.cutoff_date("daily", 1, date(2026, 9, 28)) == date(2026, 9, 28)
    # T+2: Monday 28 pays Tuesday 22's sales; Tuesday 29 pays Wednesday 23 to Sunday 27.
    assert calendar.cutoff_date("daily", 2, date(2026, 9, 28)) == date(2026, 9, 23)
    assert calendar.cutoff_date("daily", 2, date(2026, 9, 29)) == date(2026, 9, 28)


def test_weekly_and_monthly_runs_wait_for_a_business_day():
    # Weekly: the Monday after the week, unless it is a holiday.
    assert calendar.next_run_date("weekly", 1, date(2026, 9, 15)) == date(2026, 9, 21)
    assert calendar.cutoff_date("weekly", 1, date(2026, 9, 21)) == date(2026, 9, 21)
    # 5 October 2026 is the substitute for National Foundation Day: Tuesday 6 runs.
    assert calendar.next_run_date("weekly", 1, date(2026, 9, 29)) == date(2026, 10, 6)
    assert calendar.cutoff_date("weekly", 1, date(2026, 10, 6)) == date(2026, 10, 5)
    # Monthly: 1 March 2026 is a Sunday and the 2nd its substitute holiday.
    assert calendar.next_run_date("monthly", 1, date(2026, 2, 10)) == date(2026, 3, 3)
    assert calendar.cutoff_date("monthly", 1, date(2026, 3, 3)) == date(2026, 3, 1)
