"""What the clearing API's areas share: who may read public clearing data."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from sandbox.tenants.models import Tenant
from sandbox.tenants.permissions import IsActiveTenantMember


class IsTenantOrOperator(BasePermission):
    """Public clearing data (closed days, the chain): any active tenant, or an operator."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        if user and user.is_authenticated and getattr(user, "is_staff", False):
            return True
        return IsActiveTenantMember().has_permission(request, view)


def tenant_or_none(request: Request) -> Tenant | None:
    """The caller's tenant, or None for an operator (who sees every node's rows)."""
    if request.user.is_staff:
        return None
    # The tenant middleware sets ``tenant_access`` on the request, which DRF's proxies.
    tenant: Tenant = request.tenant_access.tenant  # type: ignore[attr-defined]
    return tenant
