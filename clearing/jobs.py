"""A clearing job's life, from the row to its result.

A job (``Job``) is one run of a close, an anchoring, a settlement or a check, as the
dashboard shows it. Its life, in order:

* **create**: a row (``job_create``), before anything is sent anywhere;
* **queue**: ``job_queue`` sends it to a worker once the caller's transaction commits,
  through ``sandbox.events.queue.enqueue``, which never raises when the broker is down;
  the task is named (``TASKS``), never imported, so no service depends on ``tasks.py``;
* **dispatch**: ``job_dispatch`` publishes the message and records when (``heartbeat_at``
  of a queued job is when it was last sent); ``jobs_resume_queued`` (every minute) sends
  again what is still queued ``RESEND_AFTER`` after its last sending;
* **claim**: the task takes the job with a conditional UPDATE (``job_claim``): only the
  first message for a job runs it, a second one finds it no longer queued and does nothing;
* **progress**: ``job_start`` and ``job_progress`` report how far it is (and are its
  heartbeat); ``job_wait`` puts it back in the queue while someone else holds the work;
* **finish**: ``job_finish`` (done, or failed with the error), also through
  ``failure_recorded`` for whatever escapes a job's block;
* **retry**: ``job_retry`` queues a new run of a failed job; the failed one stays in the
  history.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clearing.models import Job
from sandbox.errors import ApplicationError, Conflict
from sandbox.events.queue import enqueue
from sandbox.tenants.models import Tenant
from sandbox.tenants.services import Actor, audit_record

RESEND_AFTER = timedelta(minutes=2)

# The task that runs each kind of job, by name (``clearing.tasks`` declares them; beat
# schedules in the migrations name some of them too, so these names never change).
TASKS: dict[str, str] = {
    Job.Kind.CLOSE: "clearing.tasks.close_day",
    Job.Kind.VERIFY: "clearing.tasks.verify_anchors",
    Job.Kind.SETTLEMENT: "clearing.tasks.settle_due_windows",
    Job.Kind.ANCHOR: "clearing.tasks.anchor_transaction",
    Job.Kind.CLOCK_CLOSE: "clearing.tasks.clock_close",
}
ANCHOR_SCAN_TASK = "clearing.tasks.anchor_large_transactions"
ANCHOR_SCAN_LABEL = "scan"


def send(task_name: str, *args: Any) -> bool:
    """Publish the task ``task_name`` with ``args``; False when the broker cannot be
    reached (logged by ``enqueue``, never raised)."""
    return bool(enqueue(task_name, *args))


# --- Create ------------------------------------------------------------------------------------


def job_create(
    *,
    kind: str,
    label: str,
    triggered_by: str,
    retry_of: Job | None = None,
    tenant: Tenant | None = None,
) -> Job:
    """A queued job; with ``tenant``, one only that tenant (and operators) can see."""
    return Job.objects.create(
        kind=kind, label=label, triggered_by=triggered_by, retry_of=retry_of, tenant=tenant
    )


# --- Queue and dispatch ------------------------------------------------------------------------


def job_task(job: Job) -> tuple[str, tuple[Any, ...]]:
    """The name of the task that runs ``job``, and its arguments."""
    name = TASKS.get(job.kind)
    if name is None:
        raise ValueError(f"No task runs {job.kind} jobs.")
    if job.kind == Job.Kind.CLOSE:
        return name, (job.pk, job.label)
    if job.kind == Job.Kind.CLOCK_CLOSE:
        # The label is the close's anchor label, "<day>/<close id>".
        return name, (job.pk, int(job.label.rpartition("/")[2]))
    return name, (job.pk,)


def job_dispatch(job: Job) -> bool:
    """Send ``job`` to a worker now; False when the broker cannot be reached (the job stays
    queued, and ``jobs_resume_queued`` sends it later)."""
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    name, args = job_task(job)
    return send(name, *args)


def job_queue(job: Job, *, actor: Actor | None = None) -> Job:
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
    transaction.on_commit(lambda: job_dispatch(job), robust=True)
    return job


def job_submit(*, kind: str, label: str, actor: Actor) -> Job:
    """An operator's run of a job (a close of the day ``label``, a check, a settlement): a
    queued row, sent to a worker once the caller's transaction commits. Audited."""
    return job_queue(job_create(kind=kind, label=label, triggered_by=actor.label), actor=actor)


def jobs_resume_queued(*, limit: int = 100) -> int:
    """Send again the jobs still queued ``RESEND_AFTER`` after they were last sent (the
    broker was down, or a message was lost); how many were sent."""
    stale = timezone.now() - RESEND_AFTER
    jobs = Job.objects.filter(status=Job.Status.QUEUED).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale)
    )
    return sum(1 for job in jobs.order_by("pk")[:limit] if job_dispatch(job))


# --- Claim -------------------------------------------------------------------------------------


def job_claim(job_id: int) -> Job | None:
    """The queued job ``job_id``, now running; None if it already ran or runs elsewhere (a
    job sent twice): the conditional UPDATE lets exactly one message through."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    return Job.objects.get(pk=job_id) if claimed == 1 else None


def job_for_run(job_id: int | None, *, kind: str, label: str) -> Job | None:
    """The job a task runs: the claimed job ``job_id`` (None if another message got it), or
    without an id (a scheduled run) a new job triggered by the schedule."""
    if job_id is not None:
        return job_claim(job_id)
    return job_create(kind=kind, label=label, triggered_by="schedule")


# --- Progress ----------------------------------------------------------------------------------


def job_start(job: Job, *, total: int | None = None) -> None:
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, progress_total=total
    )


def job_progress(job: Job, done: int, total: int | None = None) -> None:
    fields: dict[str, Any] = {"progress_done": done, "heartbeat_at": timezone.now()}
    if total is not None:
        fields["progress_total"] = total
    Job.objects.filter(pk=job.pk).update(**fields)


def job_wait(job: Job, *, until: datetime, note: str) -> float:
    """Put ``job`` back in the queue until ``until`` (someone else holds its work): the
    seconds its task should wait before it retries. The retry is the job's next sending,
    so ``jobs_resume_queued`` leaves it alone until then."""
    wait = max(5.0, (until - timezone.now()).total_seconds() + 5)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.QUEUED,
        finished_at=None,
        heartbeat_at=timezone.now() + timedelta(seconds=wait),
        note=note,
    )
    return wait


# --- Finish ------------------------------------------------------------------------------------


def job_finish(job: Job, *, error: str = "", **fields: Any) -> None:
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.FAILED if error else Job.Status.DONE,
        finished_at=now,
        heartbeat_at=now,
        error=error,
        **fields,
    )
    Job.objects.filter(pk=job.pk, started_at__isnull=True).update(started_at=now)


@contextmanager
def failure_recorded(job: Job) -> Iterator[None]:
    """Whatever escapes the block fails ``job`` with its message, then goes on up: the
    dashboard shows why, and the caller (a task, a command) still sees the error."""
    try:
        yield
    except ApplicationError as exc:
        job_finish(job, error=exc.message)
        raise
    except Exception as exc:
        job_finish(job, error=f"{type(exc).__name__}: {exc}")
        raise


# --- Retry -------------------------------------------------------------------------------------


def job_retry(*, job: Job, actor: Actor) -> Job:
    """Queue a new run of a failed job (the failed one stays in the history)."""
    if job.status != Job.Status.FAILED:
        raise Conflict("Only failed jobs can be retried.", code="job_not_failed")
    if job.kind == Job.Kind.ANCHOR and job.label == ANCHOR_SCAN_LABEL:
        retry = job_create(kind=job.kind, label=job.label, triggered_by=actor.label, retry_of=job)
        transaction.on_commit(lambda: send(ANCHOR_SCAN_TASK), robust=True)
        job_finish(retry, note="Scan queued.")
        return retry
    # A tenant's job (its test clock close) stays that tenant's.
    retry = job_create(
        kind=job.kind, label=job.label, triggered_by=actor.label, retry_of=job, tenant=job.tenant
    )
    return job_queue(retry, actor=actor)
