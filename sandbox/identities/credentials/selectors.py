"""Reads of credentials: a person's credentials and presentations, a node's holder keys."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from sandbox.identities.credentials import keys
from sandbox.identities.credentials.models import (
    Credential,
    HolderKey,
    Presentation,
    PresentationRequest,
)
from sandbox.identities.models import Person
from sandbox.nodekeys import keystore
from sandbox.tenants.models import Node, Tenant


def credentials_of(person: Person) -> QuerySet[Credential]:
    return Credential.objects.filter(person=person).order_by("-issued_at", "-id")


def credentials_of_node(node: Node) -> QuerySet[Credential]:
    return Credential.objects.filter(subject_node=node).order_by("-issued_at", "-id")


def presentations_of(person: Person) -> QuerySet[Presentation]:
    return (
        Presentation.objects.filter(person=person)
        .select_related("credential", "verifier_node")
        .order_by("-created_at", "-id")
    )


def requests_of(tenant: Tenant) -> QuerySet[PresentationRequest]:
    return (
        PresentationRequest.objects.for_tenant(tenant)
        .select_related("verifier_node")
        .order_by("-created_at", "-id")
    )


def holder_jwks(node: Node) -> dict[str, Any]:
    keys.holder_key_current(node=node)
    return keystore.key_set(HolderKey.objects.filter(node=node), keys.holder_key_json)
