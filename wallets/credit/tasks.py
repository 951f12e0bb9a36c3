"""Celery tasks: thin over the services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from wallets.credit import services


@shared_task(name="wallets.credit.tasks.compute_daily_standings")
def compute_daily_standings() -> int:
    """Daily (django-celery-beat, 05:00 Asia/Seoul; migration 0002): every subject on the
    platform clock; a subject's day is computed once."""
    return services.standings_compute_daily()
