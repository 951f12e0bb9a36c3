"""Every test here may send webhooks to the receiver (tests/conftest.py) and runs Celery
tasks in its own process, unless a test points Celery elsewhere."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _webhooks_and_eager_celery(webhook_settings, celery_eager):
    yield celery_eager
