"""The one way to scope a queryset to a tenant."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models

from sandbox.errors import NotFound

_M = TypeVar("_M", bound=models.Model)


class TenantQuerySet(models.QuerySet[_M]):
    """Models reach their tenant through ``tenant_path``. Looking up another tenant's id
    answers 404, the same as an id that does not exist, so nothing leaks."""

    tenant_path = "tenant"

    def for_tenant(self, tenant: Any) -> models.QuerySet[_M]:
        return self.filter(**{self.tenant_path: tenant})

    def get_for_tenant(self, tenant: Any, pk: Any) -> _M:
        model_name = self.model._meta.model_name
        try:
            return self.for_tenant(tenant).get(pk=pk)
        except (ObjectDoesNotExist, ValueError, TypeError, ValidationError):
            # Malformed ids (not a UUID, say) are just as absent as unknown ones.
            raise NotFound(
                f"No {self.model._meta.verbose_name} with id {pk}.", code=f"{model_name}_not_found"
            ) from None


class NodeScopedQuerySet(TenantQuerySet[_M]):
    """For models that reach their tenant through their node."""

    tenant_path = "node__tenant"


def scoped_queryset(tenant_path: str) -> type[TenantQuerySet[Any]]:
    """A TenantQuerySet for models whose tenant sits behind another relation. (A named
    subclass, like ``NodeScopedQuerySet``, lets mypy's Django plugin type the manager.)"""
    return type(f"TenantQuerySet_{tenant_path}", (TenantQuerySet,), {"tenant_path": tenant_path})
