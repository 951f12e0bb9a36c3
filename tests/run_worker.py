"""``python -m tests.run_worker <celery worker arguments>``: the project's Celery
worker, with the broker's keys under SANDBOX_TEST_BROKER_PREFIX so that test processes
running side by side (pytest-xdist) never consume each other's tasks."""

from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")
django.setup()

from sandbox.celery import app  # noqa: E402

app.conf.broker_transport_options = {
    **(app.conf.broker_transport_options or {}),
    "global_keyprefix": os.environ["SANDBOX_TEST_BROKER_PREFIX"],
}
app.worker_main(["worker", *sys.argv[1:]])
