"""One event per change, in the caller's transaction: ``NewEvent`` for a person with a node
(its webhook receives it, timed by its clock), ``event_record`` for a person without one
(the tenant's event, on the platform clock; there is no node to deliver it to)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models

from sandbox.events.services import NewEvent, event_record, events_record
from sandbox.tenants.models import Tenant


def record(
    *,
    tenant_id: Any,
    node_id: Any,
    type: str,
    obj: models.Model,
    data: dict[str, Any],
    occurred_at: datetime | None = None,
) -> None:
    if node_id is None:
        tenant = Tenant.objects.get(pk=tenant_id)
        event_record(tenant=tenant, node=None, type=type, obj=obj, data=data)
        return
    events_record(
        [
            NewEvent(
                node_id=node_id,
                tenant_id=tenant_id,
                type=type,
                obj=obj,
                data=data,
                occurred_at=occurred_at,
            )
        ]
    )
