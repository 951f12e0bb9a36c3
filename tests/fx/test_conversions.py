"""Quotes and conversions on the ledger: the amounts a quote promises are the amounts that
move, through the desk's liquidity accounts, with fee and spread to its revenue; every
currency still sums to zero; a quote is used once and expires on the node's clock."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from django.db.models import Sum

from sandbox.errors import ApplicationError
from sandbox.events.models import Event
from tests.factories import TenantFactory
from tests.fx.conftest import START, balance, make_world
from wallets.fx import services as fx
from wallets.fx.models import Conversion, Pair, Quote
from wallets.models import Account, Entry
from wallets.verification import verify_ledger


def currency_sums() -> dict[str, int]:
    return {
        row["currency"]: row["total"]
        for row in Account.objects.values("currency").annotate(total=Sum("posted_balance"))
    }


def half_even(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def test_a_quote_prices_the_sale_at_the_mid_less_the_spread_and_fee(world):
    quote = world.quote("KRW", "USD", sell_amount=1_000_000)

    assert quote.pair_id == "USD/KRW"
    assert quote.reference_rate * 1380 == pytest.approx(1, rel=0.05)  # near the table's mid
    assert quote.rate == pytest.approx(quote.reference_rate * Decimal("0.995"), rel=Decimal("1e-9"))
    assert quote.fee == 2_000  # 20 bps of 1,000,000 won
    net = 1_000_000 - 2_000
    # won to cents: the rate is dollars per won, cents are 10^2
    assert quote.buy_amount == half_even(net * quote.rate * 100)
    assert quote.mid_amount == half_even(net * quote.reference_rate * 100)
    assert quote.spread_amount > 0
    assert quote.expires_at - quote.created_at == timedelta(seconds=300)
    assert quote.created_at == START  # the node's test clock


def test_a_buy_quote_delivers_exactly_the_amount_asked(world):
    quote = world.quote("JPY", "BTC", buy_amount=100_000)  # 0.001 BTC

    assert quote.buy_amount == 100_000
    assert quote.fixed_side == "buy"
    conversion = world.convert(quote)
    entries = dict(
        Entry.objects.filter(transaction=conversion.ledger_transaction).values_list(
            "account_id", "amount"
        )
    )
    assert entries[world.accounts["BTC"].pk] == 100_000
    assert entries[world.accounts["JPY"].pk] == -quote.sell_amount


def test_a_conversion_moves_exactly_the_quoted_amounts_through_the_desk(world):
    krw, usd = world.accounts["KRW"], world.accounts["USD"]
    krw_before, usd_before = balance(krw), balance(usd)
    quote = world.quote("KRW", "USD", sell_amount=1_000_000)

    conversion = world.convert(quote)

    assert balance(krw) == krw_before - 1_000_000
    assert balance(usd) == usd_before + quote.buy_amount
    entries = dict(
        Entry.objects.filter(transaction=conversion.ledger_transaction).values_list(
            "account_id", "amount"
        )
    )
    assert entries == {
        krw.pk: -1_000_000,
        fx.desk_account("KRW").pk: 1_000_000 - quote.fee,
        fx.desk_account("KRW", revenue=True).pk: quote.fee,
        fx.desk_account("USD").pk: -quote.mid_amount,
        fx.desk_account("USD", revenue=True).pk: quote.spread_amount,
        usd.pk: quote.buy_amount,
    }
    assert set(currency_sums().values()) == {0}
    assert verify_ledger().ok
    quote.refresh_from_db()
    assert quote.status == Quote.Status.USED and quote.used_at == START


def test_the_desk_accounts_are_platform_accounts_out_of_every_tenants_reach(world):
    world.convert(world.quote("KRW", "BTC", sell_amount=5_000_000))
    for currency in ("KRW", "BTC"):
        for revenue in (False, True):
            account = fx.desk_account(currency, revenue=revenue)
            assert account.kind == Account.Kind.PLATFORM and account.tenant_id is None
    assert not Account.objects.for_tenant(world.tenant).filter(kind="platform").exists()


def test_a_quote_is_used_at_most_once(world):
    quote = world.quote()
    world.convert(quote)
    before = {a: balance(acc) for a, acc in world.accounts.items()}

    with pytest.raises(ApplicationError) as refused:
        world.convert(quote)

    assert refused.value.code == "quote_used" and refused.value.status_code == 409
    assert {a: balance(acc) for a, acc in world.accounts.items()} == before
    assert Conversion.objects.filter(quote=quote).count() == 1


def test_a_quote_expires_on_the_nodes_test_clock(world):
    quote = world.quote(lock_seconds=30)
    world.advance(29)
    still = world.quote(lock_seconds=30)  # priced at the new time
    world.advance(1)
    before = balance(world.accounts["KRW"])

    with pytest.raises(ApplicationError) as refused:
        world.convert(quote)

    assert refused.value.code == "quote_expired" and refused.value.status_code == 410
    assert balance(world.accounts["KRW"]) == before
    quote.refresh_from_db()
    assert quote.status == Quote.Status.OPEN and quote.used_at is None
    world.convert(still)  # 29 + 1 seconds: 1 second of its 30 gone


def test_insufficient_funds_moves_nothing_and_leaves_the_quote_open(world):
    usd = world.accounts["USD"]
    quote = world.quote("USD", "KRW", sell_amount=balance(usd) + 1)

    with pytest.raises(ApplicationError) as refused:
        world.convert(quote)

    assert refused.value.code == "insufficient_funds" and refused.value.status_code == 422
    quote.refresh_from_db()
    assert quote.status == Quote.Status.OPEN
    assert not Conversion.objects.filter(quote=quote).exists()
    assert verify_ledger().ok


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ({"sell_amount": 999}, "amount_below_minimum"),
        ({"sell_amount": 100_000_001}, "amount_above_limit"),
        ({"buy_amount": 1}, "amount_below_minimum"),
    ],
)
def test_amounts_outside_the_desks_limits_are_refused(world, amount, code):
    with pytest.raises(ApplicationError) as refused:
        world.quote("KRW", "USD", **amount)
    assert refused.value.code == code and refused.value.status_code == 422
    assert not Quote.objects.exists()


def test_unknown_pairs_and_bad_requests_are_refused(world):
    for kwargs, code in [
        ({"source": "KRW", "target": "KRW"}, "same_currency"),
        ({"source": "KRW", "target": "EUR"}, "unknown_currency"),
    ]:
        with pytest.raises(ApplicationError) as refused:
            world.quote(kwargs["source"], kwargs["target"], sell_amount=10_000)
        assert refused.value.code == code
    Pair.objects.filter(pk="USD/JPY").update(enabled=False)
    with pytest.raises(ApplicationError) as refused:
        world.quote("JPY", "USD", sell_amount=10_000)
    assert refused.value.code == "unknown_pair"
    with pytest.raises(ApplicationError) as refused:
        world.quote("KRW", "USD", sell_amount=10_000, buy_amount=5)
    assert refused.value.code == "one_amount_required"
    with pytest.raises(ApplicationError) as refused:
        world.quote("KRW", "USD", sell_amount=10_000, lock_seconds=60)
    assert refused.value.code == "invalid_lock_duration"


def test_another_tenants_accounts_and_nodes_are_refused(world):
    other = make_world(TenantFactory())
    quote = world.quote()
    with pytest.raises(ApplicationError) as refused:
        fx.execute_quote(
            quote,
            source_account=other.accounts["KRW"],
            target_account=world.accounts["USD"],
        )
    assert refused.value.status_code == 404
    with pytest.raises(ApplicationError) as refused:
        fx.create_quote(
            tenant=world.tenant,
            node=other.node,
            source_currency="KRW",
            target_currency="USD",
            sell_amount=10_000,
        )
    assert refused.value.code == "node_not_found"
    quote.refresh_from_db()
    assert quote.status == Quote.Status.OPEN


def test_the_desk_node_is_made_once(db):
    first = fx.desk_node()
    assert fx.desk_node() == first
    assert first.name == "FX desk"


def test_the_events_tell_the_node(world):
    quote = world.quote()
    conversion = world.convert(quote)
    types = Event.objects.filter(node=world.node, type__startswith="fx.").values_list(
        "type", flat=True
    )
    assert sorted(types) == ["fx.conversion.completed", "fx.quote.created", "fx.quote.used"]
    completed = Event.objects.get(node=world.node, type="fx.conversion.completed")
    assert completed.data["id"] == str(conversion.pk)
    assert completed.data["quote"]["status"] == "used"
    assert completed.data["transaction_id"] == str(conversion.ledger_transaction.uuid)
