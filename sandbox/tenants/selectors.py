"""Reads for operators: every tenant with its node count and last activity. The console and
the API both use these, so they always agree."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest

from sandbox.errors import NotFound
from sandbox.tenants.models import ApiKey, AuditLogEntry, Node, Tenant


def operator_tenant_list() -> QuerySet[Tenant]:
    """Tenants annotated with ``node_count`` and ``last_activity_at``: the later of their
    newest audit entry and their keys' last use (API reads write no audit entry).

    Subqueries rather than joins: joining nodes, keys and the whole audit log would multiply
    rows per tenant; each subquery is one index lookup (``audit_tenant_recent`` for the log)."""
    node_count = (
        Node.objects.filter(tenant=OuterRef("pk"))
        .order_by()
        .values("tenant")
        .annotate(count=Count("pk"))
        .values("count")
    )
    last_audit = (
        AuditLogEntry.objects.filter(tenant=OuterRef("pk"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    last_key_use = (
        ApiKey.objects.filter(tenant=OuterRef("pk"), last_used_at__isnull=False)
        .order_by("-last_used_at")
        .values("last_used_at")[:1]
    )
    audit, key = Subquery(last_audit), Subquery(last_key_use)
    return Tenant.objects.annotate(
        node_count=Coalesce(Subquery(node_count, output_field=IntegerField()), 0),
        # GREATEST is NULL on SQLite when either side is; on PostgreSQL it skips NULLs.
        # Coalescing each side with the other gives PostgreSQL's answer on both.
        last_activity_at=Greatest(Coalesce(audit, key), Coalesce(key, audit)),
    )


def operator_tenant_get(tenant_id) -> Tenant:
    try:
        return operator_tenant_list().get(pk=tenant_id)
    except (Tenant.DoesNotExist, ValidationError, ValueError):
        raise NotFound(f"No tenant with id {tenant_id}.", code="tenant_not_found") from None
