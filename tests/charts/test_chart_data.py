"""The chart selectors: per-day figures computed by the database over a window, each tenant
seeing only its own, at a fixed number of queries whatever the ledger's size."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.utils import timezone

from clearing.chart_data import job_charts, job_durations
from clearing.models import Job
from sandbox.events.chart_data import webhook_charts, webhook_days
from sandbox.events.models import Event, PlatformClock, WebhookAttempt, WebhookDelivery
from tests.factories import AccountFactory, NodeFactory, TenantFactory, fund
from wallets.chart_data import balance_history, transfer_volume, wallet_charts

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 20)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())


def platform_time(moment: dt.datetime) -> None:
    """Stop the platform clock at ``moment``: what is posted now is dated then."""
    PlatformClock.objects.update_or_create(pk=1, defaults={"frozen_time": moment})


def fund_on(day: dt.date, account, amount: int) -> None:
    platform_time(at(day))
    fund(account, amount)


@pytest.fixture
def node(alice):
    return NodeFactory(tenant=alice.tenant, name="Seoul shop")


@pytest.fixture
def main(node):
    return node.wallet.accounts.get()


# --- Balances ------------------------------------------------------------------------------


def test_day_end_balances_count_back_from_the_stored_balance(alice, main):
    fund_on(TODAY - timedelta(days=10), main, 200)  # before the window
    fund_on(TODAY - timedelta(days=3), main, 1_000)
    fund_on(TODAY - timedelta(days=1), main, 500)
    fund_on(TODAY - timedelta(days=1), main, 5)
    platform_time(at(TODAY, 18))

    [series] = balance_history(tenant=alice.tenant, days=5)

    assert (series.label, series.currency) == ("Seoul shop", "KRW")
    assert series.points == [
        (TODAY - timedelta(days=4), 200),
        (TODAY - timedelta(days=3), 1_200),
        (TODAY - timedelta(days=2), 1_200),
        (TODAY - timedelta(days=1), 1_705),
        (TODAY, 1_705),
    ]


def test_one_line_per_node_and_currency(alice, node, main):
    other = NodeFactory(tenant=alice.tenant, name="Tokyo shop")
    dollars = AccountFactory(node=node, currency="USD", name="Dollars")
    fund_on(TODAY, main, 100)
    fund_on(TODAY, dollars, 250)
    fund_on(TODAY, other.wallet.accounts.get(), 7)

    lines = balance_history(tenant=alice.tenant, days=2)
    for_node = balance_history(tenant=alice.tenant, node_id=node.pk, days=2)

    assert {(s.label, s.currency, s.points[-1][1]) for s in lines} >= {
        ("Seoul shop", "KRW", 100),
        ("Seoul shop", "USD", 250),
    }
    assert ("Tokyo shop", other.base_currency, 7) in {
        (s.label, s.currency, s.points[-1][1]) for s in lines
    }
    assert {(s.label, s.points[-1][1]) for s in for_node} == {("KRW", 100), ("USD", 250)}


def test_another_tenants_money_is_not_in_the_chart(alice, main):
    stranger = NodeFactory(tenant=TenantFactory(), name="Not alice's")
    fund_on(TODAY, stranger.wallet.accounts.get(), 9_999)
    fund_on(TODAY, main, 1)

    series = balance_history(tenant=alice.tenant, days=3)

    assert [s.label for s in series] == ["Seoul shop"]


def test_the_balance_chart_costs_two_queries_however_many_postings(
    alice, main, django_assert_num_queries
):
    for n in range(20):
        fund_on(TODAY - timedelta(days=n % 7), main, 10 + n)
    platform_time(at(TODAY))

    with django_assert_num_queries(2 + 1):  # + the platform clock's row, read once
        balance_history(tenant=alice.tenant, days=30)


# --- Money moved ---------------------------------------------------------------------------


def test_money_moved_is_summed_per_day_with_empty_days_at_zero(alice, main):
    fund_on(TODAY - timedelta(days=2), main, 300)
    fund_on(TODAY - timedelta(days=2), main, 200)
    fund_on(TODAY, main, 50)
    platform_time(at(TODAY))

    [krw] = transfer_volume(tenant=alice.tenant, days=3)

    assert krw.currency == "KRW"
    assert krw.amounts == [
        (TODAY - timedelta(days=2), 500),
        (TODAY - timedelta(days=1), 0),
        (TODAY, 50),
    ]
    assert [count for _, count in krw.counts] == [2, 0, 1]


def test_money_moved_for_one_node_leaves_the_others_out(alice, main):
    other = NodeFactory(tenant=alice.tenant, base_currency="KRW")
    fund_on(TODAY, main, 40)
    fund_on(TODAY, other.wallet.accounts.get(), 60)

    [krw] = transfer_volume(tenant=alice.tenant, node_id=main.wallet.node_id, days=1)

    assert krw.amounts == [(TODAY, 40)]


def test_the_wallet_charts_are_svg_with_the_values_in_decimals(alice, node, main):
    dollars = AccountFactory(node=node, currency="USD", name="Dollars")
    fund_on(TODAY, dollars, 12_345)
    fund_on(TODAY, main, 5)

    charts = "".join(wallet_charts(tenant=alice.tenant, days=3))

    assert charts.count("<svg") == 4  # a balance and a volume chart per currency
    assert "Balance at day end, USD" in charts and "123.45" in charts


# --- Webhooks ------------------------------------------------------------------------------


def attempts_on(node, day: dt.date, *, latencies: list[int], failures: int = 0) -> None:
    moment = at(day)
    event = Event.objects.create(
        tenant=node.tenant, node=node, type="ledger_transfer.posted", occurred_at=moment
    )
    delivery = WebhookDelivery.objects.create(
        tenant=node.tenant,
        node=node,
        event=event,
        url="https://example.test/hook",
        expires_at=moment + timedelta(days=3),
        created_at=moment,
    )
    for number, latency in enumerate(latencies, start=1):
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            attempted_at=moment,
            clock_time=moment,
            url=delivery.url,
            latency_ms=latency,
            succeeded=number > failures,
        )


def test_success_rate_and_latency_per_day(node):
    today = timezone.localdate()
    attempts_on(node, today - timedelta(days=1), latencies=[100, 200, 300, 400], failures=1)
    attempts_on(node, today, latencies=[50])

    days = webhook_days(tenant=node.tenant, days=3)

    assert [d.attempts for d in days] == [0, 4, 1]
    assert days[0].success_rate is None and days[0].latency_avg_ms is None
    assert days[1].success_rate == 75.0
    assert days[1].latency_avg_ms == 250.0
    assert days[1].latency_p95_ms == pytest.approx(385.0)  # percentile_cont, interpolated
    assert (days[2].success_rate, days[2].latency_p95_ms) == (100.0, 50.0)


def test_webhook_stats_are_the_tenants_own(node):
    attempts_on(NodeFactory(tenant=TenantFactory()), timezone.localdate(), latencies=[10])

    assert sum(d.attempts for d in webhook_days(tenant=node.tenant, days=2)) == 0
    assert webhook_charts(tenant=node.tenant) == []


# --- Jobs ----------------------------------------------------------------------------------


def finished_job(kind: str, *, seconds: float, tenant=None, days_ago: int = 0) -> Job:
    finished = at(timezone.localdate() - timedelta(days=days_ago))
    return Job.objects.create(
        kind=kind,
        label="x",
        status=Job.Status.DONE,
        tenant=tenant,
        started_at=finished - timedelta(seconds=seconds),
        finished_at=finished,
    )


def test_job_durations_average_and_longest_per_kind_and_day(alice):
    finished_job("close", seconds=2)
    finished_job("close", seconds=4)
    finished_job("close", seconds=9, days_ago=1)
    finished_job("clock_close", seconds=1, tenant=alice.tenant)
    finished_job("clock_close", seconds=100, tenant=TenantFactory())  # someone else's
    Job.objects.create(kind="close", label="y", status=Job.Status.FAILED)

    kinds = {k.kind: k for k in job_durations(tenant=alice.tenant, days=7)}

    today = timezone.localdate()
    assert kinds["close"].average_s == [(today - timedelta(days=1), 9.0), (today, 3.0)]
    assert kinds["close"].longest_s[-1] == (today, 4.0)
    assert kinds["close"].runs == 3
    assert kinds["clock_close"].average_s == [(today, 1.0)]
    assert len(job_durations(operator=True, days=7)) == 2
    assert {
        k.average_s[-1][1] for k in job_durations(operator=True) if k.kind == "clock_close"
    } == {50.5}
    assert "Job duration" in "".join(job_charts(tenant=alice.tenant))


def test_a_page_draws_its_charts_at_most_once_a_minute(alice, main, django_assert_max_num_queries):
    fund_on(TODAY, main, 100)
    first = wallet_charts(tenant=alice.tenant, days=3)

    with django_assert_max_num_queries(1):  # the platform clock's row, for today's date
        again = wallet_charts(tenant=alice.tenant, days=3)

    assert again == first
    assert wallet_charts(tenant=alice.tenant, node_id=main.wallet.node_id, days=3) != first
