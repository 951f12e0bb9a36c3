"""Celery tasks: thin, idempotent, safe to run twice (each hold is claimed once)."""

from __future__ import annotations

from celery import shared_task

from wallets import services
from wallets.idempotency import purge_expired_keys


@shared_task(name="wallets.tasks.expire_due_holds")
def expire_due_holds() -> int:
    """The periodic sweep (django-celery-beat, every minute; migration 0003)."""
    return services.holds_expire_due()


@shared_task(name="wallets.tasks.expire_hold")
def expire_hold(hold_id: str) -> bool:
    return services.hold_expire(hold_id=hold_id)


@shared_task(name="wallets.tasks.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Nightly (django-celery-beat, 04:00 Asia/Seoul; migration 0008)."""
    return purge_expired_keys()
