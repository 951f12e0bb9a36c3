"""Celery tasks: thin, idempotent, safe to run twice (each hold is claimed once)."""

from __future__ import annotations

from celery import shared_task

from wallets import account_days, services
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


@shared_task(name="wallets.tasks.fold_account_days")
def fold_account_days() -> int:
    """Nightly (django-celery-beat, 00:40 Asia/Seoul; migration 0014): fold the last days'
    roll-up rows of every account, those of accounts no chart reads too, so the roll-up
    stays about a row per account and day (``wallets.account_days``)."""
    return account_days.compact(None, since=account_days.fold_start())
