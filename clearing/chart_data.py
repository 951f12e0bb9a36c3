"""What the jobs chart shows: how long each kind of clearing job took, per day (average and
longest), aggregated by the database over the finished jobs of the window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.safestring import SafeString

from clearing.models import Job
from sandbox.charts import Series, line_chart
from sandbox.tenants.models import Tenant

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class JobDurations:
    kind: str
    label: str
    average_s: list[tuple[date, float]]
    longest_s: list[tuple[date, float]]
    runs: int


def job_durations(
    *, tenant: Tenant | None = None, operator: bool = False, days: int = DEFAULT_DAYS
) -> list[JobDurations]:
    """Per job kind, the average and longest run time (seconds) of the jobs that finished on
    each day of the last ``days`` days; the same jobs ``jobs_visible`` shows (operators all,
    a tenant the platform's and its own). Days without a run have no point."""
    first = timezone.localdate() - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=timezone.get_current_timezone())
    jobs = Job.objects.filter(
        status=Job.Status.DONE, started_at__isnull=False, finished_at__gte=start
    )
    if not operator:
        jobs = jobs.filter(Q(tenant__isnull=True) | Q(tenant=tenant))
    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    rows = (
        jobs.annotate(day=TruncDate("finished_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("kind", "day")
        .annotate(average=Avg(took), longest=Max(took), runs=Count("id"))
        .order_by("kind", "day")
    )
    by_kind: dict[str, JobDurations] = {}
    labels = dict(Job.Kind.choices)
    for row in rows:
        series = by_kind.setdefault(
            row["kind"],
            JobDurations(
                kind=row["kind"],
                label=str(labels.get(row["kind"], row["kind"])),
                average_s=[],
                longest_s=[],
                runs=0,
            ),
        )
        series.average_s.append((row["day"], row["average"].total_seconds()))
        series.longest_s.append((row["day"], row["longest"].total_seconds()))
        by_kind[row["kind"]] = JobDurations(
            kind=series.kind,
            label=series.label,
            average_s=series.average_s,
            longest_s=series.longest_s,
            runs=series.runs + row["runs"],
        )
    return list(by_kind.values())


def job_charts(
    *, tenant: Tenant | None = None, operator: bool = False, days: int = DEFAULT_DAYS
) -> list[SafeString]:
    """The clearing page's chart: the average run time of each kind of job, per day."""
    kinds = job_durations(tenant=tenant, operator=operator, days=days)
    if not kinds:
        return []
    lines = [Series(k.label, k.average_s) for k in kinds]
    return [line_chart(lines, title="Job duration (average per day)", unit="s")]
