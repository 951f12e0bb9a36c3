"""The Celery application, configured from Django settings (the ``CELERY_`` namespace)."""

import logging
import logging.config
import os
import time
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, setup_logging
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.settings")

app = Celery("sandbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every published task carries the time it was sent, so /healthz can tell the age of the
# oldest waiting message on brokers that keep no timestamp themselves (Redis).
SENT_AT_HEADER = "sandbox_sent_at"


@before_task_publish.connect(dispatch_uid="sandbox.celery.stamp_sent_at")
def _stamp_sent_at(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


@setup_logging.connect(dispatch_uid="sandbox.celery.logging")
def _use_django_logging(loglevel: int | str | None = None, **kwargs: Any) -> None:
    """Worker and beat log through settings.LOGGING, like the web (its handlers rate-limit
    repeated tracebacks, sandbox.logfilter), instead of Celery replacing the root logger's
    handlers with its own. ``--loglevel`` still sets the root level."""
    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
