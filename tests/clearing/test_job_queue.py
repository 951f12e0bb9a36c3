"""Clearing jobs are rows before they are messages: a broker outage delays them, never loses
them or fails the request that queued them; a job sent twice runs once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clearing import tasks
from clearing.models import DayClose, Job
from tests.clearing.conftest import DAY


@pytest.mark.django_db(transaction=True)
def test_a_close_queued_while_the_broker_is_down_runs_once_it_is_back(
    ledger, operator_api, broker_down
):
    ledger.post(DAY, 2)

    response = operator_api.post("/api/v1/operator/clearing/close", {}, format="json")

    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "queued" and not DayClose.objects.filter(day=DAY).exists()

    # The broker is back; the sweep resends what has waited long enough, and only that.
    broker_down()
    assert tasks.resume_queued_jobs() == 0  # sent a moment ago: not yet
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=3))
    assert tasks.resume_queued_jobs() == 1
    job.refresh_from_db()
    assert job.status == "done" and job.count == 2
    assert DayClose.objects.get(day=DAY).is_closed
    assert tasks.resume_queued_jobs() == 0


@pytest.mark.django_db(transaction=True)
def test_settling_and_checking_anchors_with_the_broker_down_are_queued_not_errors(
    ledger, operator_api, broker_down
):
    settle = operator_api.post("/api/v1/operator/clearing/settle")
    verify = operator_api.post("/api/v1/operator/clearing/verify")
    assert (settle.status_code, verify.status_code) == (202, 202)
    assert set(Job.objects.values_list("kind", "status")) == {
        ("settlement", "queued"),
        ("verify", "queued"),
    }


@pytest.mark.django_db
def test_a_job_sent_twice_runs_once(ledger):
    ledger.post(DAY, 1)
    job = Job.objects.create(kind="close", label=DAY.isoformat(), triggered_by="test")

    assert tasks.close_day_task.run(job.pk, DAY.isoformat()) == "closed"
    assert tasks.close_day_task.run(job.pk, DAY.isoformat()).startswith("skipped")
    job.refresh_from_db()
    assert job.status == "done" and job.note == ""
