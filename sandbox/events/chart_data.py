"""What the webhook charts show: per day, how many attempts succeeded and how long receivers
took to answer, aggregated by the database over the window (never a loop over attempts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Aggregate, Avg, Count, FloatField, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.safestring import SafeString

from sandbox.chart_cache import cached_charts
from sandbox.charts import Series, line_chart
from sandbox.events.models import WebhookAttempt
from sandbox.tenants.models import Tenant

DEFAULT_DAYS = 14


class Percentile95(Aggregate):
    """PostgreSQL's ``percentile_cont(0.95) WITHIN GROUP (ORDER BY …)``; on SQLite (the
    zero-setup default), which has no percentile, the same interpolation as an aggregate
    function registered on the connection."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.95) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        connection.connection.create_aggregate("sandbox_percentile_95", 1, _ContinuousPercentile95)
        return self.as_sql(
            compiler,
            connection,
            function="SANDBOX_PERCENTILE_95",
            template="%(function)s(%(expressions)s)",
            **extra,
        )


class _ContinuousPercentile95:
    """``percentile_cont(0.95)``: the value 95 % of the way along the sorted non-null
    values, interpolated linearly between the two around it."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        position = 0.95 * (len(ordered) - 1)
        below = int(position)
        above = min(below + 1, len(ordered) - 1)
        return ordered[below] + (position - below) * (ordered[above] - ordered[below])


@dataclass(frozen=True)
class WebhookDay:
    day: date
    attempts: int
    succeeded: int
    latency_avg_ms: float | None
    latency_p95_ms: float | None

    @property
    def success_rate(self) -> float | None:
        """Percent of attempts answered 2xx; None on a day without attempts."""
        return 100.0 * self.succeeded / self.attempts if self.attempts else None


def webhook_days(
    *, tenant: Tenant, node_id: Any = None, days: int = DEFAULT_DAYS
) -> list[WebhookDay]:
    """One row per day of the last ``days`` days (real time, the dashboard's time zone):
    attempts, how many succeeded, average and 95th percentile latency. The window is cut on
    the deliveries too (``delivery_tenant_recent``), as an attempt comes after its delivery."""
    today = timezone.localdate()  # attempts are stamped with real time
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=timezone.get_current_timezone())
    attempts = WebhookAttempt.objects.for_tenant(tenant).filter(
        delivery__created_at__gte=start - timedelta(days=3), attempted_at__gte=start
    )
    if node_id is not None:
        attempts = attempts.filter(delivery__node_id=node_id)
    rows = (
        attempts.annotate(day=TruncDate("attempted_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day")
        .annotate(
            attempts=Count("id"),
            succeeded=Count("id", filter=Q(succeeded=True)),
            latency_avg=Avg("latency_ms"),
            latency_p95=Percentile95("latency_ms"),
        )
    )
    by_day = {row["day"]: row for row in rows}
    result = []
    for n in range(days):
        day = first + timedelta(days=n)
        row = by_day.get(day)
        result.append(
            WebhookDay(
                day=day,
                attempts=row["attempts"] if row else 0,
                succeeded=row["succeeded"] if row else 0,
                latency_avg_ms=float(row["latency_avg"]) if row else None,
                latency_p95_ms=float(row["latency_p95"]) if row else None,
            )
        )
    return result


def webhook_charts(
    *, tenant: Tenant, node_id: Any = None, days: int = DEFAULT_DAYS
) -> list[SafeString]:
    """The webhooks page's charts: the share of attempts answered 2xx per day, and the
    receivers' latency (average and 95th percentile); drawn at most once a minute."""
    key = f"webhooks:{tenant.pk}:{node_id or 'all'}:{days}:{timezone.localdate()}"
    return cached_charts(key, lambda: _webhook_charts(tenant=tenant, node_id=node_id, days=days))


def _webhook_charts(*, tenant: Tenant, node_id: Any, days: int) -> list[SafeString]:
    rows = webhook_days(tenant=tenant, node_id=node_id, days=days)
    if not any(row.attempts for row in rows):
        return []
    rate = [(row.day, row.success_rate) for row in rows if row.success_rate is not None]
    average = [(row.day, row.latency_avg_ms) for row in rows if row.latency_avg_ms is not None]
    p95 = [(row.day, row.latency_p95_ms) for row in rows if row.latency_p95_ms is not None]
    return [
        line_chart([Series("Answered 2xx", rate)], title="Webhook success rate", unit="%"),
        line_chart(
            [Series("Average", average), Series("95th percentile", p95)],
            title="Webhook latency",
            unit="ms",
        ),
    ]
