"""The periodic tasks migrations put in django-celery-beat's tables, written one way.

A migration declares what it schedules and gets the ``RunPython`` that adds it (and removes it
when the migration is reversed)::

    operations = [
        beat.schedule(
            beat.Periodic("events: purge", "events.purge_old_events", beat.Crontab("30", "4")),
            beat.Periodic("clearing: resume", "clearing.tasks.resume_queued_jobs", beat.Every(60)),
        )
    ]

The rows are made through the migration's historical models (``apps.get_model``), never by
importing django-celery-beat's models, so an old migration keeps doing what it did when the
models change. A task whose name is taken is left as operators edited it in the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import migrations

# Every crontab the platform schedules reads the sandbox's time zone.
SEOUL = "Asia/Seoul"


@dataclass(frozen=True)
class Crontab:
    minute: str
    hour: str
    day_of_week: str = "*"


@dataclass(frozen=True)
class Every:
    seconds: int


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    when: Crontab | Every


def _schedule_row(apps: Any, when: Crontab | Every) -> dict[str, Any]:
    """The PeriodicTask field and row of a schedule, shared with other tasks at that time."""
    if isinstance(when, Every):
        interval = apps.get_model("django_celery_beat", "IntervalSchedule")
        row, _ = interval.objects.get_or_create(every=when.seconds, period="seconds")
        return {"interval": row}
    crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    row, _ = crontab.objects.get_or_create(
        minute=when.minute,
        hour=when.hour,
        day_of_week=when.day_of_week,
        day_of_month="*",
        month_of_year="*",
        timezone=SEOUL,
    )
    return {"crontab": row}


def schedule(*tasks: Periodic, overwrite: bool = False) -> migrations.RunPython:
    """A migration operation that schedules ``tasks``, unscheduled when reversed.

    ``overwrite``: a task of the same name takes this task and schedule (the first migration
    that scheduled one did so; the others leave an existing task as it is)."""

    def create(apps: Any, schema_editor: Any) -> None:
        periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
        write = (
            periodic_task.objects.update_or_create
            if overwrite
            else periodic_task.objects.get_or_create
        )
        for periodic in tasks:
            defaults = {
                "task": periodic.task,
                "enabled": True,
                **_schedule_row(apps, periodic.when),
            }
            write(name=periodic.name, defaults=defaults)

    def remove(apps: Any, schema_editor: Any) -> None:
        periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
        periodic_task.objects.filter(name__in=[periodic.name for periodic in tasks]).delete()

    return migrations.RunPython(create, remove)
