"""Celery tasks of the identities: thin wrappers over services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from sandbox.identities import rotation


# acks_late + reject_on_worker_lost: a worker killed mid-rotation gives the task back to the
# broker, and the next run resumes the job after its last committed batch.
@shared_task(
    name=rotation.ROTATE_TASK, ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def rotate_keys(job_id: str, take_over: bool = False) -> str:
    return rotation.rotation_run(job_id, take_over=take_over).status
