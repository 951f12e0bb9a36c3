"""The scheduled processing of a submission (``sandbox.events.scheduling``): due
``PROCESSING_DELAY`` after the submission on the node's clock, run by
``events.run_scheduled_action`` on the bank queue (settings.CELERY_TASK_ROUTES), like the
bank network's simulated work."""

from __future__ import annotations

from sandbox.events import scheduling
from sandbox.events.models import ScheduledAction
from sandbox.identities.verification import services


@scheduling.handler(services.PROCESS_KIND)
def _process(action: ScheduledAction) -> None:
    # Idempotent: a session already past this submission is left alone.
    services.session_process(
        session_id=action.payload["session"], attempt=int(action.payload["attempt"])
    )
