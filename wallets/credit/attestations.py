"""History attestations: claims the platform derives from the ledger (``Metrics``) with the
window of evidence they rest on, and the rule by which they make an identity ``secondary``.

* ``account_age``: the oldest account was opened at least 180 days before the moment;
  window: from its opening to the moment; value: its age in days.
* ``regular_income``: at least 1 incoming payment (an external credit, not a return and
  not a move between the subject's own accounts) in each of the last 3 months of 30 days;
  window: the last 90 days; value: the fewest payments of one month.
* ``no_returns``: no return, reversal or refund in the last 6 months (180 days), and the
  history covers them (the oldest account is at least 180 days old); window: the last
  180 days; value: 0.

Rule for the secondary identity: an ``unverified`` person or node whose computation yields
all three attestations becomes ``secondary`` (never lowered, never raised past it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wallets.credit.scoring import INCOME_MONTHS, MONTH_DAYS, RETURNS_WINDOW_DAYS, Metrics

ACCOUNT_AGE = "account_age"
REGULAR_INCOME = "regular_income"
NO_RETURNS = "no_returns"
KINDS = (ACCOUNT_AGE, REGULAR_INCOME, NO_RETURNS)

ACCOUNT_AGE_MIN_DAYS = 180
REGULAR_INCOME_MIN_CREDITS = 1
NO_RETURNS_DAYS = RETURNS_WINDOW_DAYS

SECONDARY_REQUIRES = frozenset(KINDS)


@dataclass(frozen=True)
class Claim:
    kind: str
    statement: str
    value: int
    window_start: datetime
    window_end: datetime
    evidence: dict[str, Any]


def claims(metrics: Metrics, as_of: datetime) -> list[Claim]:
    """The attestations ``metrics`` support as of ``as_of``."""
    found: list[Claim] = []
    age = metrics.account_age_days
    if metrics.account_count and age >= ACCOUNT_AGE_MIN_DAYS:
        found.append(
            Claim(
                ACCOUNT_AGE,
                f"An account has been open for at least {ACCOUNT_AGE_MIN_DAYS} days.",
                age,
                as_of - timedelta(days=age),
                as_of,
                {"account_count": metrics.account_count, "account_age_days": age},
            )
        )
    monthly = list(metrics.monthly_credits[:INCOME_MONTHS])
    if monthly and min(monthly) >= REGULAR_INCOME_MIN_CREDITS:
        found.append(
            Claim(
                REGULAR_INCOME,
                f"At least {REGULAR_INCOME_MIN_CREDITS} incoming payment in each of the last "
                f"{INCOME_MONTHS} months ({MONTH_DAYS} days each).",
                min(monthly),
                as_of - timedelta(days=MONTH_DAYS * INCOME_MONTHS),
                as_of,
                {"monthly_credits": monthly, "newest_first": True},
            )
        )
    if metrics.account_count and age >= NO_RETURNS_DAYS and metrics.returns_180d == 0:
        found.append(
            Claim(
                NO_RETURNS,
                f"No return, reversal or refund in the last {NO_RETURNS_DAYS // 30} months.",
                0,
                as_of - timedelta(days=NO_RETURNS_DAYS),
                as_of,
                {"returns": 0, "window_days": NO_RETURNS_DAYS},
            )
        )
    return found


def qualifies_for_secondary(kinds: set[str]) -> bool:
    return kinds >= SECONDARY_REQUIRES
