"""The accounts' daily roll-up (``AccountDay``): PostgreSQL keeps it equal to what the
entries add up to, whatever posts them, and the charts drawn from it equal the charts
summed from the ledger."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F, Sum
from django.db.models.functions import TruncDate
from django.test import override_settings
from django.utils import timezone

from sandbox.events.models import PlatformClock
from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from wallets import account_days, chart_data, services, tasks
from wallets.fx import services as fx
from wallets.locking import retrying
from wallets.models import Account, AccountDay, Entry, LedgerTransaction
from wallets.posting import Leg, Posting, post, post_one
from wallets.services import TransferRequest
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TODAY = dt.date(2026, 3, 20)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())


def platform_time(moment: dt.datetime) -> None:
    PlatformClock.objects.update_or_create(pk=1, defaults={"frozen_time": moment})


def transfer(source: Account, destination: Account, amount: int) -> LedgerTransaction:
    request = TransferRequest(
        source=source, destination=destination, amount=amount, currency=source.currency
    )
    return services.transfer_create(tenant=source.tenant, request=request).transaction


def rolled_up() -> dict[tuple, int]:
    """The roll-up's net per virtual account, day and currency (rows of a key summed)."""
    rows = AccountDay.objects.values("account_id", "day", "currency").annotate(n=Sum("net"))
    return {(r["account_id"], r["day"], r["currency"]): r["n"] for r in rows if r["n"]}


def summed() -> dict[tuple, int]:
    """The same, straight from the entries of virtual accounts."""
    rows = (
        Entry.objects.filter(account__kind=Account.Kind.CUSTOMER)
        .annotate(day=TruncDate("posted_at", tzinfo=timezone.get_current_timezone()))
        .values("account_id", "day", "currency")
        .annotate(n=Sum("amount"))
    )
    return {(r["account_id"], r["day"], r["currency"]): r["n"] for r in rows if r["n"]}


def charts_agree(tenant, monkeypatch, *, days: int = 30) -> None:
    """Every chart of the tenant, and of each of its nodes, is the same drawn from the
    roll-up as summed from the ledger."""
    accounts = Account.objects.filter(tenant=tenant)
    for node_id in {None, *accounts.values_list("wallet__node_id", flat=True)}:
        drawn = []
        for rolled in (True, False):
            monkeypatch.setattr(chart_data, "_rolled_up", lambda r=rolled: r)
            drawn.append(
                (
                    chart_data.balance_history(tenant=tenant, node_id=node_id, days=days),
                    chart_data.transfer_volume(tenant=tenant, node_id=node_id, days=days),
                )
            )
        monkeypatch.undo()
        assert drawn[0] == drawn[1], node_id


@pytest.fixture
def node(alice):
    return NodeFactory(tenant=alice.tenant, name="Seoul shop")


@pytest.fixture
def main(node):
    return node.wallet.accounts.get()


@pytest.fixture
def shop(node):
    return AccountFactory(node=node, name="Shop")


@pytest.fixture
def tokyo(alice):
    return NodeFactory(tenant=alice.tenant, name="Tokyo shop", base_currency="KRW")


def test_transfers_deposits_and_reversals_add_up_per_account_and_day(
    alice, main, shop, tokyo, monkeypatch
):
    far = tokyo.wallet.accounts.get()
    platform_time(at(TODAY - timedelta(days=2)))
    fund(main, 10_000)
    moved = transfer(main, shop, 700)  # within the node
    transfer(main, far, 300)  # to another node
    platform_time(at(TODAY, 1))
    services.transaction_reverse(transaction_=moved, tenant=alice.tenant)
    transfer(main, far, 5)

    assert rolled_up() == summed()
    assert rolled_up()[(main.pk, TODAY - timedelta(days=2), "KRW")] == 10_000 - 700 - 300
    charts_agree(alice.tenant, monkeypatch)


def test_each_transaction_counts_once_per_node_and_once_for_the_tenant(alice, main, shop, tokyo):
    platform_time(at(TODAY))
    fund(main, 1_000)
    transfer(main, shop, 100)  # both legs in one node: counted once there
    transfer(main, tokyo.wallet.accounts.get(), 40)  # once in each node

    [seoul] = chart_data.transfer_volume(tenant=alice.tenant, node_id=main.wallet.node_id, days=1)
    [both] = chart_data.transfer_volume(tenant=alice.tenant, days=1)
    [far] = chart_data.transfer_volume(tenant=alice.tenant, node_id=tokyo.pk, days=1)

    assert (seoul.amounts, seoul.counts) == ([(TODAY, 1_140)], [(TODAY, 3)])
    assert (far.amounts, far.counts) == ([(TODAY, 40)], [(TODAY, 1)])
    assert (both.amounts, both.counts) == ([(TODAY, 1_140)], [(TODAY, 3)])


def test_another_tenants_roll_up_rows_never_appear_in_the_charts(alice, node, main, shop):
    stranger = NodeFactory(tenant=TenantFactory(), name="Not alice's")
    theirs = stranger.wallet.accounts.get()
    platform_time(at(TODAY))
    fund(theirs, 9_999)
    transfer(theirs, AccountFactory(node=stranger), 999)
    fund(main, 100)
    transfer(main, shop, 10)
    assert AccountDay.objects.filter(account=theirs).exists()  # rolled up beside alice's

    [tenant_wide] = chart_data.transfer_volume(tenant=alice.tenant, days=1)
    [one_node] = chart_data.transfer_volume(tenant=alice.tenant, node_id=node.pk, days=1)

    assert (tenant_wide.amounts, tenant_wide.counts) == ([(TODAY, 110)], [(TODAY, 2)])
    assert (one_node.amounts, one_node.counts) == ([(TODAY, 110)], [(TODAY, 2)])
    assert chart_data.transfer_volume(tenant=alice.tenant, node_id=stranger.pk, days=1) == []
    assert chart_data.balance_history(tenant=alice.tenant, node_id=stranger.pk, days=1) == []


def test_postings_dated_in_the_past_or_the_future_land_on_their_own_day(
    alice, main, shop, monkeypatch
):
    for days_off in (-40, -3, 0, 2):  # a platform clock moved back, or ahead of today
        platform_time(at(TODAY + timedelta(days=days_off), 23))
        fund(main, 1_000 + days_off)
        transfer(main, shop, 10)
    platform_time(at(TODAY, 12))

    assert rolled_up() == summed()
    assert {day for _, day, _ in rolled_up()} == {
        TODAY + timedelta(days=d) for d in (-40, -3, 0, 2)
    }
    charts_agree(alice.tenant, monkeypatch, days=60)


def test_the_day_is_cut_in_the_dashboards_time_zone(main):
    late = dt.datetime(2026, 3, 19, 15, 30, tzinfo=dt.UTC)  # 00:30 on the 20th in Seoul
    platform_time(late)
    fund(main, 5)

    assert rolled_up() == {(main.pk, dt.date(2026, 3, 20), "KRW"): 5}


def test_fx_conversions_count_in_the_transactions_currency(alice, node, main, monkeypatch):
    fx.pairs_seed()
    dollars = AccountFactory(node=node, currency="USD", name="Dollars")
    platform_time(at(TODAY))
    fund(main, 50_000_000)
    quote = fx.create_quote(
        tenant=alice.tenant,
        node=node,
        source_currency="KRW",
        target_currency="USD",
        sell_amount=1_000_000,
    )
    fx.execute_quote(quote, source_account=main, target_account=dollars)

    assert rolled_up() == summed()
    assert {s.currency for s in chart_data.transfer_volume(tenant=alice.tenant, days=1)} == {"KRW"}
    charts_agree(alice.tenant, monkeypatch)


def test_bulk_transfers_in_either_mode_add_up(alice, main, shop, tokyo, monkeypatch):
    far = tokyo.wallet.accounts.get()
    platform_time(at(TODAY))
    fund(main, 1_000_000)
    requests = [
        TransferRequest(source=main, destination=(shop, far)[n % 2], amount=n + 1, currency="KRW")
        for n in range(60)
    ]
    for mode in ("atomic", "independent"):
        services.transfer_bulk_create(tenant=alice.tenant, requests=requests, mode=mode)

    assert rolled_up() == summed()
    charts_agree(alice.tenant, monkeypatch)


def test_platform_accounts_are_left_out(main):
    platform_time(at(TODAY))
    fund(main, 77)

    assert set(AccountDay.objects.values_list("account_id", flat=True)) == {main.pk}


def test_a_tenant_transaction_moving_only_platform_accounts_moves_no_charted_money(
    alice, main, monkeypatch
):
    platform_time(at(TODAY))
    fund(main, 500)
    settlement, suspense = (
        services.platform_account(purpose=purpose, currency="KRW", bank_code=main.bank_code)
        for purpose in (Account.Purpose.SETTLEMENT, Account.Purpose.SUSPENSE)
    )
    returned = Posting(  # a withdrawal returned to a closed account: parked in suspense
        kind="withdrawal_return",
        legs=[Leg(settlement.pk, -70, "KRW"), Leg(suspense.pk, 70, "KRW")],
        tenant_id=alice.tenant.pk,
    )
    retrying(post_one)(returned)

    [moved] = chart_data.transfer_volume(tenant=alice.tenant, days=1)
    assert (moved.amounts, moved.counts) == ([(TODAY, 500)], [(TODAY, 1)])
    charts_agree(alice.tenant, monkeypatch)


def test_verify_ledger_checks_the_roll_up_against_the_ledger(alice, main, shop, tokyo):
    platform_time(at(TODAY))
    fund(main, 1_000)
    moved = transfer(main, shop, 100)
    transfer(main, tokyo.wallet.accounts.get(), 40)
    assert verify_ledger().ok

    AccountDay.objects.filter(account=shop).update(net=F("net") + 1)
    [drifted] = verify_ledger().problems
    assert drifted.startswith(f"the roll-up of account {shop.pk} on {TODAY} in KRW says (101,)")

    AccountDay.objects.filter(account=shop).update(net=F("net") - 1)
    with connection.cursor() as cursor:  # entries added to it by a later statement
        cursor.execute(
            "INSERT INTO wallets_entry (transaction_id, account_id, amount, currency, posted_at)"
            " VALUES (%s, %s, -1, 'KRW', %s), (%s, %s, 1, 'KRW', %s)",
            [moved.pk, main.pk, moved.posted_at, moved.pk, shop.pk, moved.posted_at],
        )
        cursor.execute(
            "UPDATE wallets_account SET posted_balance = posted_balance"
            " + CASE WHEN id = %s THEN -1 ELSE 1 END WHERE id IN (%s, %s)",
            [main.pk, main.pk, shop.pk],
        )
    [counted_twice] = verify_ledger().problems  # the accounts' days still add up
    assert counted_twice.startswith(f"the roll-up of tenant {alice.tenant.pk} on {TODAY}")


def test_two_postings_in_one_transaction_add_rows_that_a_draw_folds_into_one(alice, main, shop):
    platform_time(at(TODAY))
    with transaction.atomic():
        fund(main, 500)
        retrying(post)(
            [
                Posting(
                    kind="transfer",
                    legs=[Leg(main.pk, -20, "KRW"), Leg(shop.pk, 20, "KRW")],
                    tenant_id=alice.tenant.pk,
                )
            ]
        )
    fund(main, 1)
    assert AccountDay.objects.filter(account=main).count() == 3  # one per INSERT

    chart_data.wallet_charts(tenant=alice.tenant, days=3)

    [row] = AccountDay.objects.filter(account=main)
    assert (row.net, row.node_transactions, row.tenant_transactions) == (481, 3, 3)
    assert rolled_up() == summed()


def test_the_nightly_fold_folds_the_last_days_of_accounts_no_chart_reads(alice, main, shop):
    platform_time(at(TODAY - timedelta(days=5)))
    fund(main, 100)
    fund(main, 100)  # too old for the fold: left as it is
    platform_time(at(TODAY - timedelta(days=1)))
    for _ in range(3):
        transfer(main, shop, 10)
    platform_time(at(TODAY))
    before = rolled_up()

    folded = tasks.fold_account_days()

    assert folded == 2 + 2  # three rows into one, for each of the two accounts
    assert AccountDay.objects.filter(account=main, day=TODAY - timedelta(days=1)).count() == 1
    assert AccountDay.objects.filter(account=main, day=TODAY - timedelta(days=5)).count() == 2
    assert rolled_up() == before == summed()
    assert tasks.fold_account_days() == 0  # folded already


def test_a_fold_that_finds_another_under_way_is_skipped(alice, main, shop):
    platform_time(at(TODAY))
    fund(main, 100)
    for _ in range(2):
        transfer(main, shop, 10)
    other = connections.create_connection(DEFAULT_DB_ALIAS)  # another session folding
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [account_days.FOLD_LOCK])

        assert tasks.fold_account_days() == 0
        assert AccountDay.objects.filter(account=main).count() == 3  # left for later

        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [account_days.FOLD_LOCK])
    finally:
        other.close()
    assert tasks.fold_account_days() == 2 + 1  # main's three rows into one, shop's two
    assert rolled_up() == summed()


def test_a_transaction_with_several_legs_on_one_node_counts_once_there(alice, main, shop):
    platform_time(at(TODAY))
    fund(main, 100)
    three_legs = Posting(
        kind="adjustment",
        legs=[Leg(main.pk, -30, "KRW"), Leg(shop.pk, 10, "KRW"), Leg(shop.pk, 20, "KRW")],
        tenant_id=alice.tenant.pk,
    )
    retrying(post_one)(three_legs)

    assert rolled_up() == summed()
    node_days = AccountDay.objects.filter(account__wallet=main.wallet)
    assert node_days.aggregate(n=Sum("node_transactions"), moved=Sum("node_moved")) == {
        "n": 2,
        "moved": 130,
    }


def test_a_truncate_of_the_entries_empties_the_roll_up(main):
    platform_time(at(TODAY))
    fund(main, 9)

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE wallets_entry")

    assert not AccountDay.objects.exists()


def test_a_new_time_zone_cuts_the_days_anew_at_migrate(main):
    platform_time(dt.datetime(2026, 3, 19, 20, 0, tzinfo=dt.UTC))  # the 20th in Seoul
    fund(main, 3)

    with override_settings(TIME_ZONE="UTC"):
        account_days.recut_if_zone_changed()
        assert rolled_up() == {(main.pk, dt.date(2026, 3, 19), "KRW"): 3}
        fund(main, 4)  # the trigger cuts in the new zone too
        assert rolled_up() == {(main.pk, dt.date(2026, 3, 19), "KRW"): 7}
    account_days.recut_if_zone_changed()

    assert rolled_up() == {(main.pk, dt.date(2026, 3, 20), "KRW"): 7}


def test_the_live_trigger_runs_the_query_the_recut_backfills_with():
    """Migration 0011 froze its own copy of the SQL; the recut (``rebuild``) uses this
    module's. Both must add the same rows, and recreating the zone function as the recut
    does must leave it as the migration made it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT prosrc FROM pg_proc WHERE oid = 'wallets_account_days_add()'::regprocedure"
        )
        [trigger_body] = cursor.fetchone()
        zone = "SELECT pg_get_functiondef('wallets_account_days_zone()'::regprocedure)"
        cursor.execute(zone)
        [migrated_zone] = cursor.fetchone()
        cursor.execute(account_days.zone_function(settings.TIME_ZONE))
        cursor.execute(zone)
        [recut_zone] = cursor.fetchone()

    inserted = f"INSERT INTO wallets_accountday ({account_days.COLUMNS})"
    assert f"{inserted}\n    {account_days.rows_from('new_entries')};" in trigger_body
    assert recut_zone == migrated_zone


def test_without_the_roll_up_the_charts_sum_the_ledger(alice, main, shop, monkeypatch):
    """SQLite has no roll-up: the charts sum the entries and transactions instead."""
    platform_time(at(TODAY))
    fund(main, 1_000)
    transfer(main, shop, 250)
    monkeypatch.setattr(chart_data, "_rolled_up", lambda: False)
    AccountDay.objects.all().delete()

    [krw] = chart_data.transfer_volume(tenant=alice.tenant, days=1)
    [line] = chart_data.balance_history(tenant=alice.tenant, days=1)

    assert (krw.amounts, krw.counts, line.points) == (
        [(TODAY, 1_250)],
        [(TODAY, 2)],
        [(TODAY, 1_000)],
    )
