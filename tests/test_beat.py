"""The periodic tasks the migrations schedule (sandbox.beat): which, when, and that a reversed
migration takes its tasks away while an edited task survives a second scheduling."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from sandbox import beat

pytestmark = pytest.mark.django_db

# What a fresh ``migrate`` leaves in django-celery-beat's tables: (minute, hour, day of week)
# in Asia/Seoul, or every N seconds. Operators edit them in the admin afterwards.
MIGRATED = {
    "clearing: anchor large transactions": ("clearing.tasks.anchor_large_transactions", 30),
    "clearing: daily close": ("clearing.tasks.close_due_days", ("5", "0", "*")),
    "clearing: resume queued jobs": ("clearing.tasks.resume_queued_jobs", 60),
    "clearing: settle due windows": ("clearing.tasks.settle_due_windows", ("20", "0", "*")),
    "clearing: verify anchors": ("clearing.tasks.verify_anchors", ("30", "0", "*")),
    "credit: daily credit standings": (
        "wallets.credit.tasks.compute_daily_standings",
        ("0", "5", "*"),
    ),
    "events: purge old events": ("events.purge_old_events", ("30", "4", "*")),
    "recovery: nightly backup": ("recovery.tasks.backup", ("0", "3", "*")),
    "recovery: weekly restore drill": ("recovery.tasks.restore_drill", ("0", "4", "0")),
    "wallets: expire due holds": ("wallets.tasks.expire_due_holds", 60),
    "wallets: fold the accounts' daily roll-up": (
        "wallets.tasks.fold_account_days",
        ("40", "0", "*"),
    ),
    "wallets: purge expired idempotency keys": (
        "wallets.tasks.purge_idempotency_keys",
        ("0", "4", "*"),
    ),
}


def when(task: PeriodicTask) -> int | tuple[str, str, str]:
    if task.interval is not None:
        assert task.interval.period == "seconds"
        return task.interval.every
    crontab = task.crontab
    assert (crontab.day_of_month, crontab.month_of_year) == ("*", "*")
    assert str(crontab.timezone) == "Asia/Seoul"
    return (crontab.minute, crontab.hour, crontab.day_of_week)


def beat_operations():
    """Every operation ``sandbox.beat`` made in a migration of the project."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for migration in loader.disk_migrations.values():
        for operation in migration.operations:
            if isinstance(operation, RunPython) and operation.code.__module__ == beat.__name__:
                yield operation


def test_the_migrations_schedule_the_platforms_tasks():
    # On empty tables, as a fresh ``migrate`` finds them (transactional tests flush them).
    PeriodicTask.objects.all().delete()
    CrontabSchedule.objects.all().delete()
    IntervalSchedule.objects.all().delete()

    for operation in beat_operations():
        operation.code(apps, None)

    tasks = PeriodicTask.objects.select_related("crontab", "interval")
    assert {t.name: (t.task, when(t)) for t in tasks} == MIGRATED
    assert all(t.enabled and t.queue is None and not t.one_off for t in tasks)
    # Tasks at the same time share one schedule row.
    times = {schedule for _, schedule in MIGRATED.values()}
    assert CrontabSchedule.objects.count() == len({t for t in times if isinstance(t, tuple)})
    assert IntervalSchedule.objects.count() == len({t for t in times if isinstance(t, int)})


NIGHTLY = beat.Periodic("tests: nightly", "tests.nightly", beat.Crontab("15", "2"))


def run(operation, direction: str = "forwards") -> None:
    code = operation.code if direction == "forwards" else operation.reverse_code
    code(apps, None)


def test_reversing_the_migration_removes_its_tasks_and_keeps_the_schedules():
    operation = beat.schedule(NIGHTLY)
    run(operation)
    assert PeriodicTask.objects.get(name="tests: nightly").crontab.hour == "2"

    run(operation, "backwards")

    assert not PeriodicTask.objects.filter(name="tests: nightly").exists()
    assert PeriodicTask.objects.filter(name="clearing: daily close").exists()


def test_a_task_operators_edited_stays_unless_the_migration_overwrites():
    run(beat.schedule(NIGHTLY))
    PeriodicTask.objects.filter(name="tests: nightly").update(enabled=False)

    run(beat.schedule(NIGHTLY))
    assert not PeriodicTask.objects.get(name="tests: nightly").enabled

    run(beat.schedule(NIGHTLY, overwrite=True))
    assert PeriodicTask.objects.get(name="tests: nightly").enabled
