"""Reads for operators: every tenant with its node count and last activity. The console and
the API both use these, so they always agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

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


def tenant_suspension_reason(tenant: Tenant) -> str:
    """Why the operators suspended the organization: the reason of its newest suspension in
    the audit log (what the suspended page shows its people)."""
    entry = (
        AuditLogEntry.objects.for_tenant(tenant)
        .filter(action="tenant.suspended")
        .order_by("-created_at", "-pk")
        .values_list("data", flat=True)
        .first()
    )
    return str((entry or {}).get("reason") or "")


# --- The operators' audit log: filters, pages, export ----------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """What the operators' audit log is narrowed to; empty means everything. ``until`` is
    inclusive: the whole day."""

    tenant: Tenant | None = None
    actor: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditLogEntry]
    next_before: int | None
    is_first: bool


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def audit_log_search(filters: AuditFilters) -> QuerySet[AuditLogEntry]:
    """Entries matching ``filters``, newest first. ``actor`` matches a part of the actor's
    label (an e-mail address, a key's name), ``action`` a prefix (``tenant.`` for all of a
    tenant's status changes)."""
    entries = AuditLogEntry.objects.select_related("tenant").order_by("-id")
    if filters.tenant is not None:
        entries = entries.filter(tenant=filters.tenant)
    if filters.actor:
        entries = entries.filter(actor_label__icontains=filters.actor)
    if filters.action:
        entries = entries.filter(action__startswith=filters.action)
    if filters.since is not None:
        entries = entries.filter(created_at__gte=_day_start(filters.since))
    if filters.until is not None:
        entries = entries.filter(created_at__lt=_day_start(filters.until + timedelta(days=1)))
    return entries


def audit_log_page(
    entries: QuerySet[AuditLogEntry], *, before: int | None = None, limit: int = 50
) -> AuditPage:
    """One page of ``entries`` (newest first) older than the entry ``before``: a keyset on
    the id, which grows with time, so a deep page costs what the first does (no OFFSET, no
    COUNT over the whole log)."""
    if before is not None:
        entries = entries.filter(pk__lt=before)
    rows = list(entries.order_by("-id")[: limit + 1])
    next_before = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_before = rows[-1].pk
    return AuditPage(rows=rows, next_before=next_before, is_first=before is None)
