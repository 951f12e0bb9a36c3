"""The one way to scope a queryset to a tenant."""

from __future__ import annotations

from typing import Any, Self, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models

from sandbox.errors import NotFound

_M = TypeVar("_M", bound=models.Model)


class TenantQuerySet(models.QuerySet[_M]):
    """Models reach their tenant through ``tenant_path``. Looking up another tenant's id
    answers 404, the same as an id that does not exist, so nothing leaks.

    A model whose tenant sits behind a relation declares a subclass with that path
    (``tenant_path = "node__tenant"``) and uses its ``as_manager()``: a class written out,
    not made at run time, so that type checkers know the model's manager."""

    tenant_path = "tenant"

    def for_tenant(self, tenant: Any) -> Self:
        return self.filter(**{self.tenant_path: tenant})

    def get_for_tenant(self, tenant: Any, pk: Any) -> _M:
        model_name = self.model._meta.model_name
        try:
            return self.for_tenant(tenant).get(pk=pk)
        except (ObjectDoesNotExist, ValueError, TypeError, ValidationError):
            # ``get`` raises the model's DoesNotExist, a subclass of ObjectDoesNotExist.
            # Malformed ids (not a UUID, say) are just as absent as unknown ones.
            raise NotFound(
                f"No {self.model._meta.verbose_name} with id {pk}.", code=f"{model_name}_not_found"
            ) from None


class NodeScopedQuerySet(TenantQuerySet[_M]):
    """For models that belong to a node, and through it to a tenant."""

    tenant_path = "node__tenant"
