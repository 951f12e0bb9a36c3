"""Celery tasks: thin. Each takes ids, claims its job (``clearing.jobs``), calls a service
and owns its retries; each is safe to run twice. Services never import this module: they
queue a task by its name (``clearing.jobs.TASKS``). The names are fixed: beat schedules in
the migrations name them."""

from __future__ import annotations

from datetime import date, timedelta

from celery import Task, shared_task

from clearing import clock_closing, closing, jobs, keys, records, settlement, verification
from clearing.encoding import today
from clearing.models import Job


@shared_task(name="clearing.tasks.close_day", bind=True, max_retries=12)
def close_day_task(self: Task, job_id: int, day: str) -> str:
    """Close ``day`` for ``job_id``. If another worker holds the day's lease (or held it and
    died), come back when the lease runs out: the close then resumes here."""
    job = jobs.job_claim(job_id)
    if job is None:
        return "skipped: the job already ran"
    outcome = closing.close_day(day=date.fromisoformat(day), triggered_by=job.triggered_by, job=job)
    if outcome.result == "busy" and outcome.close.lease_until is not None:
        wait = jobs.job_wait(
            job,
            until=outcome.close.lease_until,
            note=f"Waiting for another worker's lease on {outcome.day} to end.",
        )
        raise self.retry(countdown=wait)
    return outcome.result


@shared_task(name="clearing.tasks.close_due_days")
def close_due_days() -> str:
    """The daily close (django-celery-beat, 00:05 Asia/Seoul by default; migration 0004).
    Closes yesterday, and any earlier day that is still open."""
    day = today() - timedelta(days=1)
    job = jobs.job_create(kind=Job.Kind.CLOSE, label=day.isoformat(), triggered_by="schedule")
    result: str = close_day_task.run(job.pk, day.isoformat())
    return result


@shared_task(name="clearing.tasks.resume_queued_jobs")
def resume_queued_jobs() -> int:
    """Every minute (migration 0010): send again the jobs still queued a while after they
    were last sent (the broker was down, or a message was lost)."""
    return jobs.jobs_resume_queued()


@shared_task(name="clearing.tasks.anchor_large_transactions")
def anchor_large_transactions() -> int:
    """Every 30 seconds (migration 0006): anchor new large inter-node transactions. Each
    anchoring is recorded as a job; a failure is a failed job operators can retry."""
    return len(records.anchor_scan(triggered_by="schedule"))


@shared_task(name="clearing.tasks.rotate_record_keys")
def rotate_record_keys() -> dict[str, object]:
    """``rotate_record_keys`` in a worker (run it by name after changing
    CLEARING_MASTER_KEY on every process): re-wrapped count and failures."""
    result = keys.rotate()
    return {"rewrapped": result.rewrapped, "failures": result.failures}


@shared_task(name="clearing.tasks.anchor_transaction")
def anchor_transaction_task(job_id: int) -> None:
    job = jobs.job_claim(job_id)
    if job is not None:
        records.anchor_job_run(job)


@shared_task(name="clearing.tasks.clock_close")
def clock_close_task(job_id: int, close_id: int) -> str:
    """Finish a test clock close (an operator's retry): safe to run twice, the close is
    anchored once and a closed one is left as it is."""
    job = jobs.job_claim(job_id)
    if job is None:
        return "skipped: the job already ran"
    clock_closing.clock_close_job_run(job=job, close_id=close_id)
    return "closed"


@shared_task(name="clearing.tasks.verify_anchors")
def verify_anchors_task(job_id: int | None = None) -> int:
    """The daily check of every closed day against the chain (00:30 by default)."""
    job = jobs.job_for_run(job_id, kind=Job.Kind.VERIFY, label="all days")
    if job is None:
        return 0
    return len(verification.verify_job_run(job).problems)


@shared_task(name="clearing.tasks.settle_due_windows")
def settle_due_windows(job_id: int | None = None) -> int:
    """Settle the windows whose settlement day has come (00:20 Asia/Seoul by default,
    after the close; migration 0008). Safe to run twice: a window settles once."""
    job = jobs.job_for_run(job_id, kind=Job.Kind.SETTLEMENT, label="due windows")
    if job is None:
        return 0
    return settlement.settle_due(job=job)["settled"]
