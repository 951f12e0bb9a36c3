"""Reads of credit standings and attestations, tenant-scoped through the subject."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from sandbox.identities.models import Person
from sandbox.identities.selectors import get_person
from sandbox.tenants.models import Node, Tenant
from wallets.credit.models import CreditStanding, HistoryAttestation

HISTORY_LIMIT = 366


def person_of(*, tenant: Tenant, person_id: Any) -> Person:
    return get_person(tenant, person_id)  # 404 person_not_found for another tenant's


def node_of(*, tenant: Tenant, node_id: Any) -> Node:
    return Node.objects.get_for_tenant(tenant, node_id)


def standings_of(
    *, person: Person | None = None, node: Node | None = None
) -> QuerySet[CreditStanding]:
    """The subject's standings, newest first."""
    rows = CreditStanding.objects.all()
    rows = rows.filter(person=person) if person is not None else rows.filter(node=node)
    return rows.order_by("-as_of", "-created_at")


def history_of(
    *, person: Person | None = None, node: Node | None = None, limit: int = HISTORY_LIMIT
) -> list[CreditStanding]:
    return list(standings_of(person=person, node=node)[:limit])


def attestations_of(
    *, person: Person | None = None, node: Node | None = None
) -> list[HistoryAttestation]:
    """The attestations of the subject's latest computation (what holds now)."""
    latest = standings_of(person=person, node=node).first()
    if latest is None:
        return []
    return list(latest.attestations.order_by("kind"))
