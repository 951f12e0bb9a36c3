"""Signing keys: what every key the platform signs with has in common (``SigningKey``,
``NodeHeldKey``), and the nodes' own Ed25519 keys (``NodeKey``).

Each kind of key keeps a table of its own, since its rows mean something else (a node's
request-signing key, the platform's credential-issuer key, a node's credential-holder key:
``sandbox.identities.credentials``), but all share these columns, constraints and the
services of ``keystore``: private halves sealed under ``NODE_KEYS_MASTER_KEY``, one active
key at a time, retired keys kept to verify what they signed.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q

from sandbox.nodekeys.algorithms import ED25519, KeyAlgorithm
from sandbox.tenants.models import Node
from sandbox.tenants.scoping import NodeScopedQuerySet


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class KeyOrigin(models.TextChoices):
    PLATFORM = "platform", "Held by the platform"
    TENANT = "tenant", "Registered by the tenant"


class SigningKey(models.Model):
    """A signing key whose private half, when the platform holds it, rests sealed
    (``sandbox.keyring``, AES-256-GCM) under the ``KEYRING_PURPOSE`` keyring of
    ``NODE_KEYS_MASTER_KEY``, bound to ``sealing_owner`` and the kid."""

    ALGORITHM: ClassVar[KeyAlgorithm[Any, Any]]
    KEYRING_PURPOSE: ClassVar[str]
    Status = KeyStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kid = models.CharField(max_length=64, unique=True, help_text="RFC 7638 JWK thumbprint.")
    sealed_private_key = models.BinaryField(null=True, blank=True)
    sealing_key_id = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=8, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(status="active", retired_at__isnull=True)
                | Q(status="retired", retired_at__isnull=False),
                name="%(class)s_retired_when_marked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == KeyStatus.ACTIVE

    @property
    def sealing_owner(self) -> str:
        """Whose key this is, in the sealed half's associated data."""
        raise NotImplementedError

    @property
    def jwk(self) -> dict[str, str]:
        """The public half as a JWK (its required members)."""
        raise NotImplementedError

    @classmethod
    def public_fields(cls, jwk: dict[str, str]) -> dict[str, Any]:
        """The columns that store the public half of ``jwk``."""
        raise NotImplementedError


class NodeHeldKey(SigningKey):
    """A node's key: one active per node, held by the platform (the private half sealed)
    or registered by the tenant (the public half only: the tenant signs outside)."""

    Origin = KeyOrigin

    # Each kind names its own relation from the node (``related_name``).
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    origin = models.CharField(max_length=8, choices=KeyOrigin.choices)

    objects = NodeScopedQuerySet.as_manager()

    class Meta(SigningKey.Meta):
        abstract = True
        constraints = [
            *SigningKey.Meta.constraints,
            models.UniqueConstraint(
                fields=["node"], condition=Q(status="active"), name="%(class)s_one_active_per_node"
            ),
            models.CheckConstraint(
                condition=Q(origin="platform", sealed_private_key__isnull=False)
                | Q(origin="tenant", sealed_private_key__isnull=True),
                name="%(class)s_private_half_by_origin",
            ),
        ]

    @property
    def sealing_owner(self) -> str:
        return str(self.node_id)


class PublicJwk(models.Model):
    """A key's public half stored as its JWK (the credential keys'; a node key keeps the raw
    Ed25519 key). Listed before the ``SigningKey`` base, whose hooks it fills."""

    public_jwk = models.JSONField()

    class Meta:
        abstract = True

    @property
    def jwk(self) -> dict[str, str]:
        return dict(self.public_jwk)

    @classmethod
    def public_fields(cls, jwk: dict[str, str]) -> dict[str, Any]:
        return {"public_jwk": jwk}


class NodeKey(NodeHeldKey):
    """One Ed25519 key a node signs its payment requests, receipts and tokens with."""

    ALGORITHM = ED25519
    KEYRING_PURPOSE = "node-signing-keys"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="signing_keys")
    public_key = models.BinaryField(help_text="The raw 32-byte Ed25519 public key.")

    class Meta(NodeHeldKey.Meta):
        indexes = [models.Index(fields=["node", "created_at"], name="nodekey_node_created")]

    @property
    def jwk(self) -> dict[str, str]:
        return ED25519.raw_public_jwk(bytes(self.public_key))

    @classmethod
    def public_fields(cls, jwk: dict[str, str]) -> dict[str, Any]:
        return {"public_key": ED25519.raw_public(jwk)}
