"""Hypothesis drives random sequences of quotes (any pair, either direction, sell or buy
amounts, any lock), conversions (of open, used and expired quotes) and test clock
advances. After every step: every currency sums to zero over all accounts, each
conversion's transaction balances per currency, the customer's balances are what the
quotes said, the desk's revenue is the fees and spreads, and ``verify_ledger`` holds."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from sandbox.currencies import CURRENCIES as KNOWN
from sandbox.errors import ApplicationError
from tests.factories import TenantFactory
from tests.fx.conftest import make_world
from wallets.fx import services as fx
from wallets.fx.models import Quote
from wallets.models import Account, Entry
from wallets.verification import verify_ledger

CURRENCIES = ["KRW", "USD", "JPY", "BTC"]
EXPONENT = {code: currency.exponent for code, currency in KNOWN.items()}
# Amounts inside the desk's limits for each currency, as sold or bought.
AMOUNTS = {
    "KRW": st.integers(1_000, 30_000_000),
    "USD": st.integers(100, 2_000_000),
    "JPY": st.integers(100, 3_000_000),
    "BTC": st.integers(1_000, 30_000_000),
}


@st.composite
def quote_requests(draw):
    source = draw(st.sampled_from(CURRENCIES))
    target = draw(st.sampled_from([c for c in CURRENCIES if c != source]))
    side = draw(st.sampled_from(["sell_amount", "buy_amount"]))
    amount = draw(AMOUNTS[source if side == "sell_amount" else target])
    lock = draw(st.sampled_from(fx.LOCK_DURATIONS))
    return source, target, {side: amount, "lock_seconds": lock}


class FxMachine(RuleBasedStateMachine):
    quotes = Bundle("quotes")

    @initialize()
    def open_books(self):
        self.world = make_world(TenantFactory())
        self.expected = {c: a.posted_balance for c, a in self.world.accounts.items()}
        self.revenue = defaultdict(int)
        self.revenue_before = {
            c: fx.desk_account(c, revenue=True).posted_balance for c in CURRENCIES
        }
        self.used: set = set()

    @rule(target=quotes, request=quote_requests())
    def quote(self, request):
        source, target, terms = request
        try:
            quote = self.world.quote(source, target, **terms)
        except ApplicationError as error:
            # A buy amount may need a sale outside the desk's limits.
            assert error.code in ("amount_below_minimum", "amount_above_limit"), error.code
            return None
        net = quote.sell_amount - quote.fee
        assert net > 0 and quote.buy_amount > 0 and quote.fee >= 0
        scale = Decimal(10) ** (EXPONENT[quote.target_currency] - EXPONENT[quote.source_currency])
        exact = net * quote.rate * scale  # what the customer's rate gives for the net amount
        if quote.fixed_side == "sell":
            # rounded half-even once: never more than half a target minor unit off, and
            # never more than the mid value
            assert abs(quote.buy_amount - exact) <= Decimal("0.5")
            assert quote.buy_amount <= quote.mid_amount
        else:
            # the customer gets exactly what was asked; the source side is rounded, so at
            # most half a source minor unit (in target units) off
            assert abs(quote.buy_amount - exact) <= quote.rate * scale / 2 + Decimal("0.5")
        assert abs(quote.mid_amount - net * quote.reference_rate * scale) <= Decimal("0.5")
        return quote

    @rule(quote=quotes)
    def convert(self, quote):
        if quote is None:
            return
        now = self.world.clock.frozen_time
        source = self.world.accounts[quote.source_currency]
        source.refresh_from_db()
        try:
            conversion = self.world.convert(quote)
        except ApplicationError as error:
            if quote.pk in self.used:
                assert error.code == "quote_used"
            elif quote.expires_at <= now:
                assert error.code == "quote_expired"
            else:
                assert error.code == "insufficient_funds"
                assert source.available_balance < quote.sell_amount
            return
        assert quote.pk not in self.used and quote.expires_at > now
        self.used.add(quote.pk)
        self.expected[quote.source_currency] -= quote.sell_amount
        self.expected[quote.target_currency] += quote.buy_amount
        self.revenue[quote.source_currency] += quote.fee
        self.revenue[quote.target_currency] += quote.spread_amount
        per_currency = defaultdict(int)
        for currency, amount in Entry.objects.filter(
            transaction=conversion.ledger_transaction
        ).values_list("currency", "amount"):
            per_currency[currency] += amount
        assert dict(per_currency) == {quote.source_currency: 0, quote.target_currency: 0}

    @rule(seconds=st.sampled_from([1, 29, 30, 299, 600, 1800, 3600]))
    def advance(self, seconds):
        self.world.advance(seconds)

    @invariant()
    def every_currency_sums_to_zero(self):
        if not hasattr(self, "world"):
            return
        sums = Account.objects.values("currency").annotate(total=Sum("posted_balance"))
        assert {row["total"] for row in sums} <= {0}

    @invariant()
    def balances_are_what_the_quotes_said(self):
        if not hasattr(self, "world"):
            return
        for currency, account in self.world.accounts.items():
            account.refresh_from_db()
            assert account.posted_balance == self.expected[currency]
            revenue = fx.desk_account(currency, revenue=True).posted_balance
            assert revenue - self.revenue_before[currency] == self.revenue[currency]
        assert Quote.objects.filter(status="used").count() >= len(self.used)

    def teardown(self):
        if hasattr(self, "world"):
            report = verify_ledger()
            assert report.ok, report.problems


@pytest.mark.django_db
def test_any_sequence_of_quotes_and_conversions_conserves_every_currency():
    run_state_machine_as_test(
        FxMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
