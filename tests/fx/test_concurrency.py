"""One quote converted by many clients at once (PostgreSQL, threads with their own
connections): exactly one conversion, the others 409 ``quote_used``; and many conversions
of one node's quotes at once through the same desk accounts keep the books balanced."""

from __future__ import annotations

import pytest

from sandbox.errors import ApplicationError
from tests.factories import TenantFactory
from tests.fx.conftest import make_world
from tests.helpers import run_in_threads
from wallets import locking
from wallets.fx import services as fx
from wallets.fx.models import Conversion, Quote
from wallets.models import LedgerTransaction
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 8


def test_concurrent_conversions_of_one_quote_convert_once():
    world = make_world(TenantFactory())
    quote = world.quote("KRW", "USD", sell_amount=100_000)
    krw_before = world.accounts["KRW"].posted_balance
    retries = locking.retry_count

    def convert(_):
        return world.convert(Quote.objects.get(pk=quote.pk))

    results = run_in_threads(convert, THREADS)

    done = [r for r in results if isinstance(r, Conversion)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(done) == 1 and len(refused) == THREADS - 1, results
    assert {(e.code, e.status_code) for e in refused} == {("quote_used", 409)}
    assert LedgerTransaction.objects.filter(kind=fx.CONVERSION_KIND).count() == 1
    world.accounts["KRW"].refresh_from_db()
    assert world.accounts["KRW"].posted_balance == krw_before - 100_000
    assert verify_ledger().ok
    assert locking.retry_count == retries  # one lock order: no deadlock retried


def test_concurrent_conversions_through_the_desk_keep_the_books():
    world = make_world(TenantFactory())
    quotes = [
        world.quote(source, target, sell_amount=amount)
        for source, target, amount in [
            ("KRW", "USD", 200_000),
            ("USD", "KRW", 20_000),
            ("JPY", "BTC", 50_000),
            ("BTC", "JPY", 100_000),
            ("KRW", "JPY", 300_000),
            ("USD", "BTC", 30_000),
        ]
    ]

    results = run_in_threads(lambda i: world.convert(quotes[i]), len(quotes))

    assert all(isinstance(r, Conversion) for r in results), results
    report = verify_ledger()
    assert report.ok, report.problems
