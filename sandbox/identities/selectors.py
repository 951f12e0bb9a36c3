"""Reads of identities, scoped to the tenant (``TenantQuerySet``): another tenant's person
is as absent as one that does not exist (404)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from sandbox.errors import NotFound
from sandbox.identities.models import AccessLogEntry, KeyRotationJob, NodeIdentity, Person
from sandbox.identities.vault import lookup_index
from sandbox.tenants.models import Node, Tenant


def people_for(tenant: Tenant) -> QuerySet[Person]:
    return Person.objects.for_tenant(tenant).select_related("node").order_by("-created_at", "-id")


def get_person(tenant: Tenant, person_id: Any) -> Person:
    """The tenant's person (404 ``person_not_found`` for another tenant's or an unknown id)."""
    return Person.objects.get_for_tenant(tenant, person_id)


def _find(tenant: Tenant, *, field: str, value: str, country: str = "KR") -> Person | None:
    index = lookup_index(tenant, field=field, value=value, country=country)
    if not index:
        return None
    return (
        Person.objects.for_tenant(tenant)
        .filter(**{f"{field}_index": index}, status=Person.Status.ACTIVE)
        .order_by("-created_at")
        .first()
    )


def find_person(tenant: Tenant, *, field: str, value: str, country: str = "KR") -> Person | None:
    """``find_by_phone``, ``find_by_email`` or ``find_by_national_id`` by field name
    (``country``: the national id's)."""
    return _find(tenant, field=field, value=value, country=country)


def find_by_phone(tenant: Tenant, value: str) -> Person | None:
    """The (newest) active person with this phone number, by blind index."""
    return _find(tenant, field="phone", value=value)


def find_by_national_id(tenant: Tenant, value: str, country: str = "KR") -> Person | None:
    return _find(tenant, field="national_id", value=value, country=country)


def find_by_email(tenant: Tenant, value: str) -> Person | None:
    return _find(tenant, field="email", value=value)


def access_log_for(person: Person) -> QuerySet[AccessLogEntry]:
    return AccessLogEntry.objects.filter(person=person).order_by("-accessed_at", "-id")


def node_identity_for(node: Node) -> NodeIdentity | None:
    return NodeIdentity.objects.filter(node=node).first()


def rotation_jobs() -> QuerySet[KeyRotationJob]:
    return KeyRotationJob.objects.order_by("-created_at")


def get_rotation_job(job_id: Any) -> KeyRotationJob:
    try:
        return KeyRotationJob.objects.get(pk=job_id)
    except (KeyRotationJob.DoesNotExist, ValueError, ValidationError):
        raise NotFound(
            f"No key rotation job with id {job_id}.", code="key_rotation_job_not_found"
        ) from None
