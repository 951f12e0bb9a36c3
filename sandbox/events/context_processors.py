"""What every dashboard page shows about events: webhook endpoints that were disabled."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from sandbox.tenants.models import Node


def disabled_webhooks(request: HttpRequest) -> dict[str, Any]:
    """``disabled_webhook_nodes``: the current tenant's nodes whose webhook endpoint is
    disabled (base.html shows a notice with a link to each). Read only when a page uses it."""
    access = getattr(request, "tenant_access", None)
    if access is None:
        return {"disabled_webhook_nodes": []}
    return {
        "disabled_webhook_nodes": SimpleLazyObject(
            lambda: list(
                Node.objects.filter(
                    tenant=access.tenant, webhook_endpoint__disabled_at__isnull=False
                ).order_by("name")
            )
        )
    }
