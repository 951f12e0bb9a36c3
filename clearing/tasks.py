"""Celery tasks: thin, take ids, safe to run twice (closes are claimed once per day)."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from clearing import closing, verification
from clearing.models import DayClose, Job
from sandbox.errors import Conflict


@shared_task(name="clearing.tasks.close_day", bind=True, max_retries=12)
def close_day_task(self, job_id: int, day: str) -> str:
    """Close ``day`` for ``job_id``. If another worker holds the day's lease (or held it and
    died), come back when the lease runs out: the close then resumes here."""
    job = Job.objects.get(pk=job_id)
    outcome = closing.close_day(day=date.fromisoformat(day), triggered_by=job.triggered_by, job=job)
    if outcome.result == "busy" and outcome.close.lease_until is not None:
        wait = (outcome.close.lease_until - timezone.now()).total_seconds() + 5
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.QUEUED,
            finished_at=None,
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


def enqueue_close(*, day: date, triggered_by: str, retry_of: Job | None = None) -> Job:
    """Record a queued close job and send it to a worker once the caller's transaction
    commits."""
    job = closing.job_create(
        kind=Job.Kind.CLOSE, label=day.isoformat(), triggered_by=triggered_by, retry_of=retry_of
    )
    transaction.on_commit(lambda: close_day_task.delay(job.pk, day.isoformat()))
    return job


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

    job = Job.objects.get(pk=job_id)
    closing.job_start(job, total=1)
    with closing.failure_recorded(job):
        txn = LedgerTransaction.objects.get(uuid=job.label)
        record = records.anchor_transaction(txn)
    closing.job_finish(
        job, count=1, root=record.digest, block_height=record.anchor.height, note="Anchored."
    )


def job_retry(*, job: Job, triggered_by: str) -> Job:
    """Queue a new run of a failed job (the failed one stays in the history)."""
    if job.status != Job.Status.FAILED:
        raise Conflict("Only failed jobs can be retried.", code="job_not_failed")
    if job.kind == Job.Kind.CLOSE:
        return enqueue_close(
            day=date.fromisoformat(job.label), triggered_by=triggered_by, retry_of=job
        )
    if job.kind == Job.Kind.VERIFY:
        retry = closing.job_create(
            kind=Job.Kind.VERIFY, label=job.label, triggered_by=triggered_by, retry_of=job
        )
        transaction.on_commit(lambda: verify_anchors_task.delay(retry.pk))
        return retry
    if job.kind == Job.Kind.SETTLEMENT:
        retry = closing.job_create(
            kind=Job.Kind.SETTLEMENT, label=job.label, triggered_by=triggered_by, retry_of=job
        )
        transaction.on_commit(lambda: settle_due_windows.delay(retry.pk))
        return retry
    if job.kind == Job.Kind.ANCHOR:
        retry = closing.job_create(
            kind=Job.Kind.ANCHOR, label=job.label, triggered_by=triggered_by, retry_of=job
        )
        if job.label == "scan":
            transaction.on_commit(lambda: anchor_large_transactions.delay())
            closing.job_finish(retry, note="Scan queued.")
        else:
            transaction.on_commit(lambda: anchor_transaction_task.delay(retry.pk))
        return retry
    if job.kind == Job.Kind.CLOCK_CLOSE:
        from clearing.models import ClockClose

        # The label is the close's anchor label, "<day>/<close id>".
        close_id = job.label.rpartition("/")[2]
        close = ClockClose.objects.filter(pk=close_id if close_id.isdigit() else None).first()
        if close is None:
            raise Conflict("The test clock close of this job no longer exists.")
        retry = closing.job_create(
            kind=Job.Kind.CLOCK_CLOSE,
            label=job.label,
            triggered_by=triggered_by,
            retry_of=job,
            tenant=close.tenant,
        )
        transaction.on_commit(lambda: clock_close_task.delay(retry.pk, close.pk))
        return retry
    raise Conflict(f"{job.get_kind_display()} jobs are retried by their own service.")


@shared_task(name="clearing.tasks.clock_close")
def clock_close_task(job_id: int, close_id: int) -> str:
    """Finish a test clock close (an operator's retry): safe to run twice, the close is
    anchored once and a closed one is left as it is."""
    from clearing import clock_closing
    from clearing.models import ClockClose

    job = Job.objects.get(pk=job_id)
    close = ClockClose.objects.get(pk=close_id)
    clock_closing.clock_close_finish(close=close, triggered_by=job.triggered_by, job=job)
    return "closed"


@shared_task(name="clearing.tasks.verify_anchors")
def verify_anchors_task(job_id: int | None = None) -> int:
    """The daily check of every closed day against the chain (00:30 by default)."""
    job = (
        Job.objects.get(pk=job_id)
        if job_id is not None
        else closing.job_create(kind=Job.Kind.VERIFY, label="all days", triggered_by="schedule")
    )
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
        Job.objects.get(pk=job_id)
        if job_id is not None
        else closing.job_create(
            kind=Job.Kind.SETTLEMENT, label="due windows", triggered_by="schedule"
        )
    )
    return settlement.settle_due(job=job)["settled"]
