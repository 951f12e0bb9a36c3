"""Who is asking, for which tenant, and may they write. Resolved in one place for the
dashboard (sessions) and the API (keys or sessions)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from rest_framework.request import Request

from sandbox.tenants.models import ApiKey, Membership, Tenant
from sandbox.tenants.services import Actor


@dataclass(frozen=True)
class TenantAccess:
    tenant: Tenant
    actor: Actor
    role: str  # a Membership.Role; API keys act as developers

    @property
    def can_write(self) -> bool:
        return self.role != Membership.Role.VIEWER

    @property
    def may_write(self) -> bool:
        """What every dashboard write needs: a writer's role in an active tenant."""
        return self.can_write and self.tenant.is_active

    @property
    def is_owner(self) -> bool:
        return self.role == Membership.Role.OWNER


class ApiKeyPrincipal:
    """``request.user`` for a request authenticated by an API key."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_active = True
    pk = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return str(self.api_key)


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def membership_of(user) -> Membership | None:
    if not getattr(user, "is_authenticated", False) or isinstance(user, ApiKeyPrincipal):
        return None
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def resolve_access(request: HttpRequest) -> TenantAccess | None:
    """The tenant behind a request, whatever its status; None for operators and strangers."""
    user = getattr(request, "user", None)
    if isinstance(user, ApiKeyPrincipal):
        api_key = user.api_key
        actor = Actor(api_key=api_key, ip_address=client_ip(request))
        return TenantAccess(tenant=api_key.tenant, actor=actor, role=Membership.Role.DEVELOPER)
    membership = membership_of(user)
    if membership is None:
        return None
    actor = Actor(user=user, ip_address=client_ip(request))
    return TenantAccess(tenant=membership.tenant, actor=actor, role=membership.role)


def actor_for(request: HttpRequest) -> Actor:
    access = resolve_access(request)
    if access is not None:
        return access.actor
    user = getattr(request, "user", None)
    return Actor(
        user=user if getattr(user, "is_authenticated", False) else None,
        ip_address=client_ip(request),
    )


class TenantRequest(HttpRequest):
    """For annotations only: a dashboard request inside ``tenant_page``. The attribute is
    set by ``TenantMiddleware`` (None for strangers, whom ``tenant_page`` turns away), so a
    view behind ``tenant_page`` always has one."""

    tenant_access: TenantAccess


class TenantApiRequest(Request):
    """For annotations only: an API request that ``IsActiveTenantMember`` let through; it
    sets the attribute."""

    tenant_access: TenantAccess
