"""The formula of docs/identities.md ("Credit standing"), as arithmetic: the score stays in
1..99 for any history, each reason code appears exactly when its condition holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallets.credit import scoring
from wallets.credit.scoring import CurrencyFigures, Metrics

LEVELS = ["unverified", "secondary", "real_name"]

currencies = st.lists(
    st.builds(
        CurrencyFigures,
        currency=st.sampled_from(["KRW", "USD", "JPY"]),
        balance=st.integers(-(10**15), 10**15),
        inflow_90d=st.integers(0, 10**15),
    ),
    max_size=3,
)
metrics = st.builds(
    Metrics,
    account_count=st.integers(0, 50),
    account_age_days=st.integers(0, 20_000),
    monthly_credits=st.tuples(*[st.integers(0, 10_000)] * 3),
    returns_180d=st.integers(0, 1_000),
    currencies=currencies,
)


@given(metrics, st.sampled_from(LEVELS))
def test_the_score_stays_within_1_and_99_for_any_history(figures, level):
    result = scoring.standing(figures, level)

    assert 1 <= result.score <= 99
    assert len(set(result.reason_codes)) == len(result.reason_codes)
    assert set(result.reason_codes) <= set(scoring.REASON_CODES)


@given(metrics, st.sampled_from(LEVELS))
def test_the_score_is_the_documented_sum_clamped(figures, level):
    result = scoring.standing(figures, level)
    p = result.points

    assert p.total == 20 + p.age + p.income + p.returns + p.balance + p.identity
    assert result.score == min(99, max(1, p.total))
    assert 0 <= p.age <= 20 and 0 <= p.income <= 24 and -40 <= p.returns <= 10
    assert 0 <= p.balance <= 10 and p.identity in (0, 8, 15)


def test_a_long_regular_verified_history_without_returns_scores_99():
    figures = Metrics(
        account_count=1,
        account_age_days=800,
        monthly_credits=(2, 1, 3),
        returns_180d=0,
        currencies=(CurrencyFigures("KRW", 300_000, 300_000),),
    )

    result = scoring.standing(figures, "real_name")

    assert result.score == 99
    assert result.reason_codes == []


def test_nothing_at_all_scores_the_base_less_the_penalties_never_below_1():
    assert scoring.standing(Metrics(), "unverified").score == 20 + 10  # base + no returns
    worst = Metrics(account_count=1, returns_180d=50)
    assert scoring.standing(worst, "unverified").score == 1


def test_a_worked_example_of_the_docs():
    # 365 days: 365 * 20 // 730 = 10; 2 months of income: 16; 1 return: -8;
    # balance 40,000 of 300,000 inflow in 90 days: 30 * 40,000 // 300,000 = 4; secondary: 8.
    figures = Metrics(
        account_count=2,
        account_age_days=365,
        monthly_credits=(1, 0, 4),
        returns_180d=1,
        currencies=(
            CurrencyFigures("KRW", 40_000, 300_000),
            CurrencyFigures("USD", -10, 0),
        ),
    )

    result = scoring.standing(figures, "secondary")

    assert result.points == scoring.Points(age=10, income=16, returns=-8, balance=4, identity=8)
    assert result.score == 20 + 10 + 16 - 8 + 4 + 8 == 50
    # Points lost: returns 18, income 8, balance 6; 365 days is not a short history.
    assert result.reason_codes == ["recent_returns", "irregular_income", "low_balance"]


GOOD = Metrics(
    account_count=1,
    account_age_days=800,
    monthly_credits=(1, 1, 1),
    returns_180d=0,
    currencies=(CurrencyFigures("KRW", 1_000, 1_000),),
)


@pytest.mark.parametrize(
    ("code", "changes", "level"),
    [
        ("no_accounts", {"account_count": 0, "account_age_days": 0}, "real_name"),
        ("short_history", {"account_age_days": 364}, "real_name"),
        ("irregular_income", {"monthly_credits": (1, 0, 1)}, "real_name"),
        ("recent_returns", {"returns_180d": 1}, "real_name"),
        ("unverified_identity", {}, "unverified"),
        ("low_balance", {"currencies": (CurrencyFigures("KRW", 100, 1_000),)}, "real_name"),
        ("low_balance", {"currencies": ()}, "real_name"),
    ],
)
def test_each_reason_code_appears_when_its_condition_holds(code, changes, level):
    fields = {**GOOD.__dict__, **changes}

    assert code in scoring.standing(Metrics(**fields), level).reason_codes
    assert code not in scoring.standing(GOOD, "real_name").reason_codes


def test_reason_codes_come_most_points_lost_first():
    figures = Metrics(
        account_count=1,
        account_age_days=10,  # 20 lost
        monthly_credits=(0, 0, 1),  # 16 lost
        returns_180d=3,  # 34 lost
        currencies=(CurrencyFigures("KRW", 0, 1_000),),  # 10 lost
    )

    codes = scoring.standing(figures, "unverified").reason_codes  # 15 lost

    assert codes == [
        "recent_returns",
        "short_history",
        "irregular_income",
        "unverified_identity",
        "low_balance",
    ]
