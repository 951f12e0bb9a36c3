from __future__ import annotations

from rest_framework import exceptions, permissions

from sandbox.tenants.access import resolve_access


class IsActiveTenantMember(permissions.BasePermission):
    """An active tenant's key or member; viewers may only read."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(
                "Authenticate with 'Authorization: Bearer <API key>'.", code="not_authenticated"
            )
        access = resolve_access(request)
        if access is None:
            raise exceptions.PermissionDenied(
                "This endpoint is for tenants; operators use /api/v1/operator/.",
                code="not_a_tenant",
            )
        if access.tenant.status == access.tenant.Status.SUSPENDED:
            raise exceptions.PermissionDenied(
                "This organization is suspended.", code="tenant_suspended"
            )
        if access.tenant.status == access.tenant.Status.PENDING:
            raise exceptions.PermissionDenied(
                "This organization awaits an operator's approval.", code="tenant_pending"
            )
        if request.method not in permissions.SAFE_METHODS and not access.can_write:
            raise exceptions.PermissionDenied(
                "Viewers cannot change anything.", code="read_only_role"
            )
        request.tenant_access = access
        return True


class IsOwner(IsActiveTenantMember):
    def has_permission(self, request, view) -> bool:
        super().has_permission(request, view)
        if not request.tenant_access.is_owner:
            raise exceptions.PermissionDenied("Only owners can do this.", code="owner_only")
        return True


class IsOperator(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated("Log in as an operator.", code="not_authenticated")
        if not request.user.is_staff:
            raise exceptions.PermissionDenied("Operators only.", code="operator_only")
        return True
