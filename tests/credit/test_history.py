"""The ledger metrics, read with aggregate SQL as of a moment: account age, incoming
payments per month (not returns, not moves between one's own accounts), returns, balances."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from tests.credit.conftest import START, Books
from tests.factories import AccountFactory, NodeFactory, fund
from wallets import services as ledger
from wallets.credit import history, scoring
from wallets.credit.scoring import CurrencyFigures, Metrics

pytestmark = pytest.mark.django_db


def person_metrics(books: Books, as_of) -> Metrics:
    found = history.ledger_metrics(
        history.BY_PERSON,
        history.person_accounts_filter([(books.tenant.pk, books.person.customer_reference)]),
        as_of,
    )
    return found.get((books.tenant.pk, books.person.customer_reference), Metrics())


def node_metrics(node_ids, as_of) -> dict:
    return history.ledger_metrics(history.BY_NODE, history.node_accounts_filter(node_ids), as_of)


def test_it_counts_incoming_payments_per_month_of_30_days_newest_first(books):
    books.monthly_income(4)  # days 1, 31, 61, 91
    books.day(95)
    books.credit()  # day 95: the newest month holds two

    figures = person_metrics(books, books.day(100))

    assert figures.account_count == 1
    assert figures.account_age_days == 100
    assert figures.monthly_credits == (2, 1, 1)  # (70, 100], (40, 70], (10, 40]
    assert figures.returns_180d == 0
    assert figures.currencies == (CurrencyFigures("KRW", 500_000, 400_000),)


def test_a_past_moment_ignores_what_came_later(books):
    books.monthly_income(4)
    figures = person_metrics(books, START + timedelta(days=40))

    assert figures.account_age_days == 40
    assert figures.monthly_credits == (1, 1, 0)
    assert figures.currencies[0].balance == 200_000


def test_an_account_opened_after_the_moment_does_not_exist_yet(books):
    assert person_metrics(books, START - timedelta(seconds=1)) == Metrics()


def test_moves_between_ones_own_accounts_are_not_income(books):
    savings = AccountFactory(node=books.node, customer_reference=books.person.customer_reference)
    books.day(1)
    books.credit(50_000)
    ledger.transfer_create(
        tenant=books.tenant,
        request=ledger.TransferRequest(books.account, savings, 20_000, "KRW"),
    )

    figures = person_metrics(books, books.day(2))

    assert figures.monthly_credits == (1, 0, 0)
    assert figures.currencies[0].inflow_90d == 50_000


def test_a_reversal_is_a_return_and_no_income(books):
    books.day(1)
    txn = books.credit(70_000)
    books.day(2)
    books.returned(txn)

    figures = person_metrics(books, books.day(3))

    assert figures.returns_180d == 1
    assert figures.monthly_credits == (1, 0, 0)  # the deposit; its reversal is a debit
    assert figures.currencies[0].balance == 0


def test_returns_older_than_180_days_are_forgotten(books):
    books.day(1)
    txn = books.credit(70_000)
    books.returned(txn)

    assert person_metrics(books, books.day(180)).returns_180d == 1
    assert person_metrics(books, books.day(182)).returns_180d == 0


def test_a_node_reads_every_account_of_its_wallet(books):
    books.day(1)
    books.credit(10_000)
    books.credit(5_000, account=books.node_account)

    found = node_metrics([books.node.pk], books.day(2))

    assert found[(books.node.pk,)].account_count == 2
    assert found[(books.node.pk,)].monthly_credits == (2, 0, 0)


def test_many_subjects_cost_the_same_two_queries(books, django_assert_num_queries):
    nodes = [NodeFactory(tenant=books.tenant) for _ in range(12)]
    books.day(1)
    for node in nodes:
        fund(node.wallet.accounts.get(), 1_000)
    as_of = books.day(2)

    with django_assert_num_queries(2):
        found = node_metrics([n.pk for n in nodes], as_of)

    assert len(found) == 12
    assert all(m.monthly_credits == (1, 0, 0) for m in found.values())


@pytest.mark.parametrize("seed", range(4))
def test_arbitrary_histories_score_within_1_and_99(books, seed):
    rng = random.Random(seed)
    day = 0
    posted = []
    for _ in range(rng.randint(0, 25)):
        day += rng.randint(0, 40)
        books.day(day)
        txn = books.credit(rng.randint(1, 10**9))
        posted.append(txn)
        if rng.random() < 0.2:
            books.returned(rng.choice(posted))
            posted.clear()
    as_of = books.day(day + rng.randint(0, 400))

    figures = person_metrics(books, as_of)

    for level in ("unverified", "secondary", "real_name"):
        assert 1 <= scoring.standing(figures, level).score <= 99
