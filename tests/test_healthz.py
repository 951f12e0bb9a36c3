"""/healthz (issue 13, item 3): queue depth and the age of the oldest waiting message per
queue, ``degraded`` (200) past the thresholds or without a broker, 503 only without a
database."""

from __future__ import annotations

import os
import time
import uuid
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test.utils import override_settings

from sandbox.celery import SENT_AT_HEADER
from sandbox.celery import app as celery_app
from tests.worker import broker_url_or_skip, new_prefix, point_celery_at, use_key_prefix


@pytest.fixture
def broker_folder(tmp_path):
    """The filesystem broker, on a folder of this test's own."""
    if not celery_app.conf.broker_url.startswith("filesystem"):
        pytest.skip("runs on the filesystem broker")
    saved = celery_app.conf.broker_transport_options
    celery_app.conf.broker_transport_options = {
        **saved,
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
    }
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield tmp_path
    celery_app.conf.broker_transport_options = saved
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def put_message(folder, queue="webhooks", age=0.0):
    path = folder / f"{int(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
    path.write_text("{}")
    when = time.time() - age
    os.utime(path, (when, when))


def test_an_empty_queue_is_ok(client, db, broker_folder):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["problems"] == []
    # Each work queue on its own (settings.CELERY_TASK_QUEUES).
    empty = {"depth": 0, "oldest_age_seconds": None}
    assert body["queues"] == {name: empty for name in ["bank", "clearing", "default", "webhooks"]}
    assert body["thresholds"] == {"queue_depth": 10_000, "queue_age_seconds": 300}


def test_a_published_task_counts_on_the_filesystem_broker(client, db, broker_folder):
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        celery_app.tasks["events.relay_outbox"].apply_async()
    finally:
        celery_app.conf.task_always_eager = previous
    queues = client.get("/healthz").json()["queues"]
    queue = queues["webhooks"]  # the relay's queue (settings.CELERY_TASK_ROUTES)
    assert queues["bank"]["depth"] == 0
    assert queue["depth"] == 1
    assert 0 <= queue["oldest_age_seconds"] < 60


def test_depth_and_age_past_the_thresholds_are_degraded_but_200(client, db, broker_folder):
    put_message(broker_folder, age=400)
    put_message(broker_folder, age=10)
    put_message(broker_folder, queue="elsewhere")  # not a queue of ours
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["queues"]["webhooks"]["depth"] == 2
    assert body["queues"]["webhooks"]["oldest_age_seconds"] >= 399
    assert body["status"] == "degraded"
    [problem] = body["problems"]  # 400 s, and a little more on a busy machine
    assert problem.startswith("queue webhooks: oldest message 400.") and problem.endswith(" s old")

    with override_settings(
        SANDBOX_HEALTH_QUEUE_DEPTH_LIMIT=1, SANDBOX_HEALTH_QUEUE_AGE_LIMIT_SECONDS=1000
    ):
        body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["problems"] == ["queue webhooks: 2 messages waiting"]


def test_a_lost_broker_is_degraded_but_200(client, db, broker_down):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and not body["broker"]["ok"]
    assert body["problems"] == ["broker unreachable"]


def test_a_lost_database_is_503(client, db):
    with mock.patch.object(
        connection, "ensure_connection", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and not body["database"]["ok"]
    assert body["problems"][0] == "database unreachable"


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_depth_and_age_on_redis(client, db):
    url = broker_url_or_skip()
    saved = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)
    point_celery_at(celery_app, url, eager=False)
    prefix = new_prefix()
    use_key_prefix(celery_app, prefix)
    try:
        with mock.patch("time.time", return_value=time.time() - 500):
            celery_app.tasks["events.relay_outbox"].apply_async()  # sent "500 s ago"
        celery_app.tasks["events.relay_outbox"].apply_async(priority=9)
        body = client.get("/healthz").json()
        assert body["queues"]["webhooks"]["depth"] == 2
        assert body["queues"]["webhooks"]["oldest_age_seconds"] >= 499
        assert body["queues"]["bank"] == {"depth": 0, "oldest_age_seconds": None}
        assert body["status"] == "degraded"
        with celery_app.connection_for_write() as conn:
            raw = conn.default_channel.client.lindex(f"{prefix}webhooks", -1)
        assert SENT_AT_HEADER in raw.decode()
    finally:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.client.delete(f"{prefix}webhooks", f"{prefix}webhooks\x06\x169")
        use_key_prefix(celery_app, None)
        point_celery_at(celery_app, saved[0], eager=saved[1])
