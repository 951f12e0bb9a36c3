"""The credit standing formula: pure arithmetic over a subject's ledger metrics and its
verification level. docs/identities.md ("Credit standing") states it exactly as written here;
change both together.

Points (integers, each rounded down):

    age       = min(account_age_days, 730) * 20 // 730                      0..20
    income    = 8 * months_with_income  (of the last 3 months of 30 days)    0..24
    returns   = 10 if no return in 180 days, else -8 * min(returns, 5)      -40..10
    balance   = min(10, 30 * balance // inflow_90d), best currency, 0 when
                no inflow or balance <= 0 (10 = a month's average inflow)    0..10
    identity  = 0 unverified, 8 secondary, 15 real_name                      0..15

    score = clamp(20 + age + income + returns + balance + identity, 1, 99)

The largest sum is exactly 99; the clamp matters only below 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

BASE = 20
AGE_POINTS = 20
AGE_FULL_DAYS = 730
INCOME_POINTS_PER_MONTH = 8
INCOME_MONTHS = 3
MONTH_DAYS = 30
NO_RETURNS_POINTS = 10
RETURN_PENALTY = 8
RETURN_PENALTY_CAP = 5
RETURNS_WINDOW_DAYS = 180
BALANCE_POINTS = 10
IDENTITY_POINTS = {"unverified": 0, "secondary": 8, "real_name": 15}
MIN_SCORE, MAX_SCORE = 1, 99

# Reason-code thresholds (a code appears when its condition holds).
SHORT_HISTORY_DAYS = 365
LOW_BALANCE_POINTS = 5

# The reason codes, in the order used to break ties of points lost.
NO_ACCOUNTS = "no_accounts"
SHORT_HISTORY = "short_history"
IRREGULAR_INCOME = "irregular_income"
RECENT_RETURNS = "recent_returns"
UNVERIFIED_IDENTITY = "unverified_identity"
LOW_BALANCE = "low_balance"
REASON_CODES = (
    NO_ACCOUNTS,
    RECENT_RETURNS,
    IRREGULAR_INCOME,
    SHORT_HISTORY,
    UNVERIFIED_IDENTITY,
    LOW_BALANCE,
)
REASON_TEXT = {
    NO_ACCOUNTS: "No account is linked to this subject yet.",
    SHORT_HISTORY: f"The oldest account is younger than {SHORT_HISTORY_DAYS} days.",
    IRREGULAR_INCOME: (
        f"Not every one of the last {INCOME_MONTHS} months ({MONTH_DAYS} days each) had an "
        "incoming payment."
    ),
    RECENT_RETURNS: f"Returns, reversals or refunds in the last {RETURNS_WINDOW_DAYS} days.",
    UNVERIFIED_IDENTITY: "The identity is not verified (neither secondary nor real name).",
    LOW_BALANCE: "The balance is below half a month's average incoming payments.",
}


@dataclass(frozen=True)
class CurrencyFigures:
    """One currency of a subject's accounts as of the computation's time."""

    currency: str
    balance: int  # the sum of every entry posted before then (minor units)
    inflow_90d: int  # incoming payments of the last 90 days (minor units)


@dataclass(frozen=True)
class Metrics:
    """What the ledger says about a subject as of a moment (``wallets.credit.history``)."""

    account_count: int = 0
    account_age_days: int = 0  # since the oldest account was opened
    monthly_credits: tuple[int, ...] = (0, 0, 0)  # incoming payments, newest month first
    returns_180d: int = 0  # transactions of the return kinds touching the subject
    currencies: Sequence[CurrencyFigures] = field(default_factory=tuple)

    @property
    def months_with_income(self) -> int:
        return sum(1 for count in self.monthly_credits[:INCOME_MONTHS] if count > 0)


@dataclass(frozen=True)
class Points:
    age: int
    income: int
    returns: int
    balance: int
    identity: int

    @property
    def total(self) -> int:
        return BASE + self.age + self.income + self.returns + self.balance + self.identity


@dataclass(frozen=True)
class Standing:
    score: int
    reason_codes: list[str]
    points: Points


def balance_points(currencies: Sequence[CurrencyFigures]) -> int:
    best = 0
    for figures in currencies:
        if figures.inflow_90d <= 0 or figures.balance <= 0:
            continue
        best = max(best, min(BALANCE_POINTS, 30 * figures.balance // figures.inflow_90d))
    return best


def points(metrics: Metrics, level: str) -> Points:
    returns = (
        NO_RETURNS_POINTS
        if metrics.returns_180d == 0
        else -RETURN_PENALTY * min(metrics.returns_180d, RETURN_PENALTY_CAP)
    )
    return Points(
        age=min(max(metrics.account_age_days, 0), AGE_FULL_DAYS) * AGE_POINTS // AGE_FULL_DAYS,
        income=INCOME_POINTS_PER_MONTH * metrics.months_with_income,
        returns=returns,
        balance=balance_points(metrics.currencies),
        identity=IDENTITY_POINTS.get(level, 0),
    )


def standing(metrics: Metrics, level: str) -> Standing:
    """The score and its reason codes, most points lost first (ties in ``REASON_CODES``
    order)."""
    got = points(metrics, level)
    score = min(MAX_SCORE, max(MIN_SCORE, got.total))
    lost: dict[str, int] = {}
    if metrics.account_count == 0:
        lost[NO_ACCOUNTS] = AGE_POINTS + INCOME_POINTS_PER_MONTH * INCOME_MONTHS
    if metrics.account_age_days < SHORT_HISTORY_DAYS:
        lost[SHORT_HISTORY] = AGE_POINTS - got.age
    if metrics.months_with_income < INCOME_MONTHS:
        lost[IRREGULAR_INCOME] = INCOME_POINTS_PER_MONTH * INCOME_MONTHS - got.income
    if metrics.returns_180d > 0:
        lost[RECENT_RETURNS] = NO_RETURNS_POINTS - got.returns
    if level == "unverified":
        lost[UNVERIFIED_IDENTITY] = IDENTITY_POINTS["real_name"]
    if got.balance < LOW_BALANCE_POINTS:
        lost[LOW_BALANCE] = BALANCE_POINTS - got.balance
    order = {code: i for i, code in enumerate(REASON_CODES)}
    codes = sorted(lost, key=lambda code: (-lost[code], order[code]))
    return Standing(score=score, reason_codes=codes, points=got)
