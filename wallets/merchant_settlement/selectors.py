"""Reads of merchant settlement, scoped to the tenant."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from sandbox.errors import ApplicationError, NotFound
from sandbox.tenants.models import Node, Tenant
from wallets.merchant_settlement.models import SettlementBatch, SettlementContract


def contract_of_node(*, tenant: Tenant, node_id: Any) -> SettlementContract:
    node = Node.objects.get_for_tenant(tenant, node_id)
    contract = (
        SettlementContract.objects.select_related("node__tenant", "account", "link")
        .filter(node=node)
        .first()
    )
    if contract is None:
        raise NotFound("This node has no settlement contract.", code="contract_not_found")
    return contract


def batches(*, tenant: Tenant, filters: dict[str, Any]) -> QuerySet[SettlementBatch]:
    """Filters: ``node`` (an id), ``status``."""
    rows = SettlementBatch.objects.for_tenant(tenant).select_related("fee_transaction")
    if node_id := filters.get("node"):
        rows = rows.filter(node=Node.objects.get_for_tenant(tenant, node_id))
    if status := filters.get("status"):
        if status not in SettlementBatch.Status.values:
            message = f"One of {', '.join(SettlementBatch.Status.values)}."
            raise ApplicationError(message, code="invalid_parameter", fields={"status": [message]})
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "-id")


def batch_get(*, tenant: Tenant, batch_id: Any) -> SettlementBatch:
    return SettlementBatch.objects.select_related("fee_transaction", "node").get_for_tenant(
        tenant, batch_id
    )
