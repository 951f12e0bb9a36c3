"""Celery tasks: thin, take ids, safe to run twice (closes are claimed once per day)."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clearing import closing, verification
from clearing.models import DayClose, Job
from sandbox.errors import Conflict
from sandbox.events.queue import enqueue
from sandbox.tenants.services import Actor, audit_record


@shared_task(name="clearing.tasks.close_day", bind=True, max_retries=12)
def close_day_task(self, job_id: int, day: str) -> str:
    """Close ``day`` for ``job_id``. If another worker holds the day's lease (or held it and
    died), come back when the lease runs out: the close then resumes here."""
    job = _start(job_id)
    if job is None:
        return "skipped: the job already ran"
    outcome = closing.close_day(day=date.fromisoformat(day), triggered_by=job.triggered_by, job=job)
    if outcome.result == "busy" and outcome.close.lease_until is not None:
        wait = (outcome.close.lease_until - timezone.now()).total_seconds() + 5
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.QUEUED,
            finished_at=None,
            # "Sent" for resume_queued_jobs: the retry below is the sending.
            heartbeat_at=timezone.now() + timedelta(seconds=max(5, wait)),
            note=f"Waiting for another worker's lease on {outcome.day} to end.",
        )
        raise self.retry(countdown=max(5, wait))
    return outcome.result


@shared_task(name="clearing.tasks.close_due_days")
def close_due_days() -> str:
    """The daily close (django-celery-beat, 00:05 Asia/Seoul by default; migration 0004).
    Closes yesterday, and any earlier day that is still open."""
    day = closing.today() - timedelta(days=1)
    job = closing.job_create(kind=Job.Kind.CLOSE, label=day.isoformat(), triggered_by="schedule")
    return close_day_task.run(job.pk, day.isoformat())


# --- Queueing jobs: the row first, the broker after ------------------------------------------
#
# A job is a row before it is a message: ``queue_job`` sends it once the caller's transaction
# commits, through ``sandbox.events.queue.enqueue``, which never raises when the broker is
# down. ``resume_queued_jobs`` (every minute) sends again what is still queued a while after
# its last sending. Every job is safe to run twice, and a task starts a job only once
# (``_start``), so a second message for it does nothing.

RESEND_AFTER = timedelta(minutes=2)


def _task_for(job: Job):
    """The task that runs ``job``, and its arguments."""
    if job.kind == Job.Kind.CLOSE:
        return close_day_task, (job.pk, job.label)
    if job.kind == Job.Kind.VERIFY:
        return verify_anchors_task, (job.pk,)
    if job.kind == Job.Kind.SETTLEMENT:
        return settle_due_windows, (job.pk,)
    if job.kind == Job.Kind.ANCHOR:
        return anchor_transaction_task, (job.pk,)
    if job.kind == Job.Kind.CLOCK_CLOSE:
        # The label is the close's anchor label, "<day>/<close id>".
        return clock_close_task, (job.pk, int(job.label.rpartition("/")[2]))
    raise ValueError(f"No task runs {job.kind} jobs.")


def dispatch(job: Job) -> bool:
    """Send ``job`` to a worker now; False when the broker cannot be reached (the job stays
    queued, and ``resume_queued_jobs`` sends it later). ``heartbeat_at`` of a queued job
    is when it was last sent."""
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    task, args = _task_for(job)
    return enqueue(task, *args)


def queue_job(job: Job, *, actor: Actor | None = None) -> Job:
    """Send ``job`` to a worker once the caller's transaction commits. With ``actor`` (an
    operator's trigger, not the schedule's), the trigger goes to the audit log."""
    if actor is not None:
        audit_record(
            actor=actor,
            action=f"clearing.{job.kind}_queued",
            tenant=job.tenant,
            target=job,
            data={"label": job.label, "retry_of": job.retry_of_id},
        )
    transaction.on_commit(lambda: dispatch(job), robust=True)
    return job


def _start(job_id: int) -> Job | None:
    """The queued job ``job_id``, now running; None if it already ran or runs elsewhere
    (a job sent twice)."""
    started = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    return Job.objects.get(pk=job_id) if started == 1 else None


@shared_task(name="clearing.tasks.resume_queued_jobs")
def resume_queued_jobs() -> int:
    """Every minute (migration 0010): send again the jobs still queued ``RESEND_AFTER``
    after they were last sent (the broker was down, or a message was lost)."""
    stale = timezone.now() - RESEND_AFTER
    jobs = Job.objects.filter(status=Job.Status.QUEUED).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale)
    )
    return sum(1 for job in jobs.order_by("pk")[:100] if dispatch(job))


def enqueue_close(*, day: date, actor: Actor) -> Job:
    """An operator's close of ``day``: a queued job, sent to a worker once the caller's
    transaction commits."""
    job = closing.job_create(kind=Job.Kind.CLOSE, label=day.isoformat(), triggered_by=actor.label)
    return queue_job(job, actor=actor)


def enqueue_job(*, kind: str, label: str, actor: Actor) -> Job:
    """An operator's run of a verification or settlement job, queued likewise."""
    return queue_job(
        closing.job_create(kind=kind, label=label, triggered_by=actor.label), actor=actor
    )


@shared_task(name="clearing.tasks.anchor_large_transactions")
def anchor_large_transactions() -> int:
    """Every 30 seconds (migration 0006): anchor new large inter-node transactions. Each
    anchoring is recorded as a job; a failure is a failed job operators can retry."""
    from clearing import records

    try:
        done = records.anchor_large_transactions()
    except Exception as exc:
        job = closing.job_create(kind=Job.Kind.ANCHOR, label="scan", triggered_by="schedule")
        closing.job_finish(job, error=f"{type(exc).__name__}: {exc}")
        raise
    for record in done:
        _record_job(record, triggered_by="schedule")
    return len(done)


def _record_job(record, *, triggered_by: str, retry_of: Job | None = None) -> Job:
    job = closing.job_create(
        kind=Job.Kind.ANCHOR,
        label=str(record.transaction.uuid),
        triggered_by=triggered_by,
        retry_of=retry_of,
    )
    closing.job_finish(
        job,
        count=1,
        root=record.digest,
        block_height=record.anchor.height if record.anchor_id else None,
        note="Encrypted for its nodes and the operators.",
    )
    return job


@shared_task(name="clearing.tasks.anchor_transaction")
def anchor_transaction_task(job_id: int) -> None:
    from clearing import records
    from wallets.models import LedgerTransaction

    job = _start(job_id)
    if job is None:
        return
    closing.job_start(job, total=1)
    with closing.failure_recorded(job):
        txn = LedgerTransaction.objects.get(uuid=job.label)
        record = records.anchor_transaction(txn)
    closing.job_finish(
        job, count=1, root=record.digest, block_height=record.anchor.height, note="Anchored."
    )


def job_retry(*, job: Job, actor: Actor) -> Job:
    """Queue a new run of a failed job (the failed one stays in the history)."""
    if job.status != Job.Status.FAILED:
        raise Conflict("Only failed jobs can be retried.", code="job_not_failed")
    if job.kind == Job.Kind.ANCHOR and job.label == "scan":
        retry = closing.job_create(
            kind=job.kind, label=job.label, triggered_by=actor.label, retry_of=job
        )
        transaction.on_commit(lambda: enqueue(anchor_large_transactions), robust=True)
        closing.job_finish(retry, note="Scan queued.")
        return retry
    # A tenant's job (its test clock close) stays that tenant's.
    retry = closing.job_create(
        kind=job.kind, label=job.label, triggered_by=actor.label, retry_of=job, tenant=job.tenant
    )
    return queue_job(retry, actor=actor)


@shared_task(name="clearing.tasks.clock_close")
def clock_close_task(job_id: int, close_id: int) -> str:
    """Finish a test clock close (an operator's retry): safe to run twice, the close is
    anchored once and a closed one is left as it is."""
    from clearing import clock_closing
    from clearing.models import ClockClose

    job = _start(job_id)
    if job is None:
        return "skipped: the job already ran"
    close = ClockClose.objects.get(pk=close_id)
    clock_closing.clock_close_finish(close=close, triggered_by=job.triggered_by, job=job)
    return "closed"


@shared_task(name="clearing.tasks.verify_anchors")
def verify_anchors_task(job_id: int | None = None) -> int:
    """The daily check of every closed day against the chain (00:30 by default)."""
    job = (
        _start(job_id)
        if job_id is not None
        else closing.job_create(kind=Job.Kind.VERIFY, label="all days", triggered_by="schedule")
    )
    if job is None:
        return 0
    closing.job_start(job, total=DayClose.objects.filter(status=DayClose.Status.CLOSED).count())
    report = verification.verify_anchors(progress=lambda n: closing.job_progress(job, n))
    if report.ok:
        closing.job_finish(
            job,
            note=f"{report.summary}: all match.",
            count=report.transactions,
        )
    else:
        closing.job_finish(
            job, error="\n".join(str(p) for p in report.problems[:200]), count=report.transactions
        )
    return len(report.problems)


@shared_task(name="clearing.tasks.settle_due_windows")
def settle_due_windows(job_id: int | None = None) -> int:
    """Settle the windows whose settlement day has come (00:20 Asia/Seoul by default,
    after the close; migration 0008). Safe to run twice: a window settles once."""
    from clearing import settlement

    job = (
        _start(job_id)
        if job_id is not None
        else closing.job_create(
            kind=Job.Kind.SETTLEMENT, label="due windows", triggered_by="schedule"
        )
    )
    if job is None:
        return 0
    return settlement.settle_due(job=job)["settled"]
