"""Retention: old events go, with their webhook deliveries and attempts (docs/scaling.md).

Events are notifications: the ledger (``wallets``) and what clearing anchors (ledger
transactions, day closes, tree chunks) never point at them, and only webhook deliveries
do (``WebhookDelivery.event``, on delete CASCADE, and its attempts with it). So an event
may go once it is older than ``SANDBOX_EVENT_RETENTION_DAYS`` and nothing about it is
still under way: the outbox relayed it, and none of its deliveries is pending (a retry
still due) or younger than the cutoff (a resend someone asked for lately).

The purge runs nightly from beat (migration 0003), in batches of ``batch`` events, one
database transaction each, oldest first: a batch holds its locks for milliseconds, and a
purge that stops half-way leaves whole events behind, never a delivery without its event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from sandbox.events.models import Event, WebhookAttempt, WebhookDelivery

PURGE_TASK = "events.purge_old_events"
PURGE_BATCH = 1000


def retention_cutoff(*, now: datetime | None = None) -> datetime | None:
    """Events recorded before this moment may go; None when retention is off (0 days)."""
    days = settings.SANDBOX_EVENT_RETENTION_DAYS
    if not days:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def purgeable_events(*, cutoff: datetime) -> QuerySet[Event]:
    """Events older than ``cutoff`` that the outbox relayed and no delivery still needs."""
    busy = WebhookDelivery.objects.filter(event=OuterRef("pk")).filter(
        Q(status=WebhookDelivery.Status.PENDING) | Q(created_at__gte=cutoff)
    )
    return Event.objects.filter(created_at__lt=cutoff, relayed_at__isnull=False).filter(
        ~Exists(busy)
    )


def events_purge(
    *, cutoff: datetime | None = None, batch: int = PURGE_BATCH, max_batches: int | None = None
) -> int:
    """Delete purgeable events with their deliveries and attempts, ``batch`` events per
    database transaction, oldest first. Returns how many events went."""
    cutoff = cutoff or retention_cutoff()
    if cutoff is None:
        return 0
    deleted = batches = 0
    while max_batches is None or batches < max_batches:
        # Oldest first, along the created_at index: each batch starts where the last ended.
        ids = list(
            purgeable_events(cutoff=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        deleted += _purge_batch(ids, cutoff)
        batches += 1
    return deleted


def _purge_batch(ids: list[UUID], cutoff: datetime) -> int:
    with transaction.atomic():
        # Lock the events and check again: a delivery made since (a resend) keeps its
        # event, and none can be added to a locked event until this batch commits.
        doomed = list(
            purgeable_events(cutoff=cutoff)
            .select_for_update()
            .filter(pk__in=ids)
            .values_list("pk", flat=True)
        )
        if not doomed:
            return 0
        # Children first: the attempts go in one DELETE (nothing points at them), so the
        # deliveries and events that follow have nothing left to cascade to.
        WebhookAttempt.objects.filter(delivery__event_id__in=doomed).delete()
        WebhookDelivery.objects.filter(event_id__in=doomed).delete()
        Event.objects.filter(pk__in=doomed).delete()
        return len(doomed)
