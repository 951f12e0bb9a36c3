"""Celery tasks of remittances: thin, by id, safe to run twice (``services.remittance_step``
checks what is recorded under the remittance's row lock)."""

from __future__ import annotations

from celery import shared_task

from clearing.remittance import services


@shared_task(name=services.RUN_TASK)
def run(remittance_id: str) -> str:
    """Run the remittance's legs until it waits (delayed) or is done."""
    return services.remittance_run(remittance_id=remittance_id).status
