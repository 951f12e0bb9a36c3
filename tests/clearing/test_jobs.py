"""``clearing.jobs``: a job is claimed once, and every kind is sent to a task by a name the
worker knows (services never import the tasks)."""

from __future__ import annotations

import pytest

from clearing import jobs
from clearing.models import Job
from sandbox.celery import app


def test_every_kind_of_job_names_a_registered_task():
    app.loader.import_default_modules()
    assert set(jobs.TASKS) == set(Job.Kind.values)
    for name in [*jobs.TASKS.values(), jobs.ANCHOR_SCAN_TASK]:
        assert name in app.tasks, name


@pytest.mark.django_db
def test_a_job_is_claimed_once():
    job = jobs.job_create(kind=Job.Kind.VERIFY, label="all days", triggered_by="test")

    first, second = jobs.job_claim(job.pk), jobs.job_claim(job.pk)

    assert first is not None and first.status == Job.Status.RUNNING
    assert second is None


@pytest.mark.django_db
def test_a_clock_close_job_is_sent_with_its_close_id():
    job = jobs.job_create(kind=Job.Kind.CLOCK_CLOSE, label="2026-03-02/17", triggered_by="test")

    assert jobs.job_task(job) == ("clearing.tasks.clock_close", (job.pk, 17))
