"""Re-wrapping every data key under the keyring's primary KEK: a job in batches.

After a new key is put first in ``IDENTITIES_MASTER_KEY`` (the old ones kept after it),
``rotation_start`` records a job and ``rotation_run`` re-wraps, in order, the tenants'
blind-index keys, the people's data keys and the node identities' data keys. Nothing is
re-encrypted and no personal field is decrypted: only the 32-byte keys are opened with the
old KEK and sealed with the new one. Each batch re-wraps its rows and moves the job's
progress (phase, cursor, processed) in one transaction, so a job killed at any point has
lost at most the batch it was in, which rolled back; running it again resumes after its
cursor. Once a job has completed, the old keys can leave the keyring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from sandbox.errors import Conflict
from sandbox.events.queue import enqueue
from sandbox.identities import sealing
from sandbox.identities.models import BlindIndexKey, KeyRotationJob, NodeIdentity, Person
from sandbox.identities.vault import INDEX, NODE_IDENTITY, PERSON
from sandbox.keyring import Keyring

logger = logging.getLogger(__name__)

ROTATE_TASK = "identities.rotate_keys"
# A running job whose heartbeat is older than this was killed: another run may take it over.
STALE_AFTER = timedelta(minutes=5)
Phase = KeyRotationJob.Phase
Status = KeyRotationJob.Status


def _phases() -> list[tuple[str, type[models.Model], str, str, Q]]:
    """(phase, model, kind, wrapped column, rows that hold a key) in the order they run. A
    key's owner is its row's primary key (a blind-index key's is its tenant's id)."""
    return [
        (Phase.INDEX_KEYS, BlindIndexKey, INDEX, "wrapped_key", Q()),
        (Phase.PEOPLE, Person, PERSON, "wrapped_dek", Q(wrapped_dek__isnull=False)),
        (Phase.NODE_IDENTITIES, NodeIdentity, NODE_IDENTITY, "wrapped_dek", Q()),
    ]


def _pending(model: type[models.Model], has_key: Q, target: str) -> Any:
    return model._default_manager.filter(has_key).exclude(kek_id=target)


def rotation_pending(ring: Keyring | None = None) -> int:
    """How many keys are wrapped under a KEK other than the primary."""
    target = (ring or sealing.keyring()).primary
    return sum(_pending(model, q, target).count() for _, model, _, _, q in _phases())


def rotation_start(*, requested_by: str, batch_size: int = 200) -> KeyRotationJob:
    """A new job towards the current primary KEK (409 ``rotation_in_progress`` while
    another is open). The caller queues ``rotate_keys`` after commit."""
    target = sealing.keyring().primary
    with transaction.atomic():
        open_job = (
            KeyRotationJob.objects.select_for_update()
            .filter(status__in=[Status.PENDING, Status.RUNNING])
            .first()
        )
        if open_job is not None:
            raise Conflict(
                f"Key rotation {open_job.pk} is still {open_job.status}: resume it instead.",
                code="rotation_in_progress",
            )
        return KeyRotationJob.objects.create(
            target_kek_id=target,
            total=rotation_pending(),
            batch_size=max(1, min(batch_size, 5000)),
            requested_by=requested_by[:200],
        )


def rotation_request(*, requested_by: str, batch_size: int = 200) -> KeyRotationJob:
    """Start a job and queue its run after commit (``rotate_keys`` on the default queue)."""
    job = rotation_start(requested_by=requested_by, batch_size=batch_size)
    transaction.on_commit(lambda: enqueue(ROTATE_TASK, str(job.pk)))
    return job


def rotation_resume(job: KeyRotationJob) -> KeyRotationJob:
    """Queue an open job again, to be taken over by the next run (after a killed worker)."""
    if job.status not in (Status.PENDING, Status.RUNNING):
        raise Conflict(f"Key rotation {job.pk} is {job.status}.", code="rotation_not_open")
    transaction.on_commit(lambda: enqueue(ROTATE_TASK, str(job.pk), True))
    return job


def open_job() -> KeyRotationJob | None:
    return KeyRotationJob.objects.filter(status__in=[Status.PENDING, Status.RUNNING]).first()


def _claim(job_id: Any, *, take_over: bool) -> KeyRotationJob | None:
    """The job, now ours to run: pending, or running with a stale heartbeat (a killed run),
    or any running one when ``take_over`` (an operator resuming it by hand)."""
    now = timezone.now()
    claimable = Q(status=Status.PENDING) | Q(status=Status.RUNNING, heartbeat_at__isnull=True)
    if take_over:
        claimable |= Q(status=Status.RUNNING)
    else:
        claimable |= Q(status=Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    claimed = (
        KeyRotationJob.objects.filter(claimable, pk=job_id).update(
            status=Status.RUNNING, heartbeat_at=now
        )
        == 1
    )
    if not claimed:
        return None
    KeyRotationJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    return KeyRotationJob.objects.get(pk=job_id)


def _batch(job: KeyRotationJob, ring: Keyring) -> bool:
    """Re-wrap one batch of the job's phase and record it; False when the job is done."""
    phases = _phases()
    names = [p[0] for p in phases]
    with transaction.atomic():
        job = KeyRotationJob.objects.select_for_update().get(pk=job.pk)
        if job.phase == Phase.DONE:
            return False
        _, model, kind, column, has_key = phases[names.index(job.phase)]
        rows = _pending(model, has_key, job.target_kek_id).order_by("pk")
        if job.cursor:
            rows = rows.filter(pk__gt=job.cursor)
        batch = list(rows.select_for_update()[: job.batch_size])
        for row in batch:
            key = sealing.unwrap(
                row.kek_id, getattr(row, column), kind=kind, owner_id=row.pk, ring=ring
            )
            new_kek, wrapped = sealing.wrap(key, kind=kind, owner_id=row.pk, ring=ring)
            row.kek_id = new_kek
            setattr(row, column, wrapped)
        if batch:
            model._default_manager.bulk_update(batch, ["kek_id", column])
            job.processed += len(batch)
            job.cursor = str(batch[-1].pk)
        if len(batch) < job.batch_size:
            # The phase is done: the next one starts from its first row.
            job.phase = names[names.index(job.phase) + 1] if job.phase != names[-1] else Phase.DONE
            job.cursor = ""
        job.total = max(job.total, job.processed)
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["processed", "cursor", "phase", "total", "heartbeat_at"])
    return True


def rotation_run(
    job_id: Any,
    *,
    take_over: bool = False,
    progress: Callable[[KeyRotationJob], None] | None = None,
) -> KeyRotationJob:
    """Run (or resume) the job to the end. Another run holding it fresh: nothing happens.
    A key the keyring cannot open, or a primary that changed since the job started, fails
    the job with its reason; the rows already done stay done."""
    job = _claim(job_id, take_over=take_over)
    if job is None:
        return KeyRotationJob.objects.get(pk=job_id)
    ring = sealing.keyring()
    if ring.primary != job.target_kek_id:
        return _finish(
            job,
            Status.FAILED,
            f"The primary key is now {ring.primary}, not {job.target_kek_id}: start a new "
            "rotation.",
        )
    try:
        while _batch(job, ring):
            if progress is not None:
                job.refresh_from_db()
                progress(job)
    except (sealing.KeyringError, ValueError) as exc:
        logger.exception("Key rotation %s failed", job.pk)
        return _finish(job, Status.FAILED, str(exc))
    return _finish(job, Status.COMPLETED, "")


def _finish(job: KeyRotationJob, status: str, error: str) -> KeyRotationJob:
    job.refresh_from_db()
    job.status = status
    job.last_error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "last_error", "finished_at"])
    return job
