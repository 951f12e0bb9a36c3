"""Celery tasks: thin. The beat schedules (migration 0002) name them: a nightly backup and
a weekly restore drill."""

from __future__ import annotations

from celery import shared_task

from clearing.recovery.backup import backup_create
from clearing.recovery.drill import drill_run


@shared_task(name="recovery.tasks.backup")
def backup_task() -> str:
    """Write a backup and apply retention (``SANDBOX_BACKUP_KEEP``)."""
    return backup_create().name


@shared_task(name="recovery.tasks.restore_drill")
def restore_drill_task() -> str:
    """Restore the newest backup into a scratch database and check it (a ``DrillRun``)."""
    return str(drill_run(triggered_by="schedule").run.status)
