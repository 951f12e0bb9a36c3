"""The close through a real Celery worker (Redis broker, PostgreSQL), as CI runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from clearing import tasks
from clearing.jobs import job_create
from clearing.models import AnchorBlock, DayClose, Job
from sandbox.celery import app
from tests.clearing.conftest import DAY
from tests.worker import broker_url_or_skip


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_closes_the_day_once_for_duplicate_triggers(ledger):
    broker = broker_url_or_skip()
    # A queue of this run's own: parallel runs on one Redis must not take each other's jobs.
    queue = f"clearing-test-{uuid.uuid4().hex[:12]}"
    ledger.post(DAY, 10)
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "DJANGO_SETTINGS_MODULE": "sandbox.settings",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "sandbox",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-Q",
            queue,
            "--loglevel=WARNING",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
    )
    saved = app.conf.broker_url
    app.conf.broker_url = broker
    try:
        jobs = [
            job_create(kind=Job.Kind.CLOSE, label=DAY.isoformat(), triggered_by=f"t{i}")
            for i in range(3)
        ]
        for job in jobs:
            tasks.close_day_task.apply_async((job.pk, DAY.isoformat()), queue=queue)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if all(j.status == "done" for j in Job.objects.filter(pk__in=[j.pk for j in jobs])):
                break
            time.sleep(0.5)
    finally:
        app.conf.broker_url = saved
        worker.terminate()
        worker.wait(timeout=30)
    finished = list(Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("pk"))
    assert [j.status for j in finished] == ["done", "done", "done"], [j.error for j in finished]
    assert sorted(j.note for j in finished) == ["", "Already closed.", "Already closed."]
    assert DayClose.objects.get(day=DAY).status == "closed"
    assert AnchorBlock.objects.filter(kind="day").count() == 1
