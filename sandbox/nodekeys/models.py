"""Nodes' signing keys: Ed25519, one active per node, retired ones kept for verification."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from sandbox.tenants.models import Node
from sandbox.tenants.scoping import NodeScopedQuerySet


class NodeKey(models.Model):
    """One Ed25519 key of a node. The platform's keys keep their private half sealed
    (``sandbox.keyring``, AES-256-GCM under ``NODE_KEYS_MASTER_KEY``); a key the tenant
    registered has only its public half, and the platform never signs with it."""

    class Origin(models.TextChoices):
        PLATFORM = "platform", "Held by the platform"
        TENANT = "tenant", "Registered by the tenant"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="signing_keys")
    kid = models.CharField(max_length=64, unique=True, help_text="RFC 7638 JWK thumbprint.")
    public_key = models.BinaryField(help_text="The raw 32-byte Ed25519 public key.")
    origin = models.CharField(max_length=8, choices=Origin.choices)
    sealed_private_key = models.BinaryField(null=True, blank=True)
    sealing_key_id = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = NodeScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["node"], condition=Q(status="active"), name="nodekey_one_active_per_node"
            ),
            models.CheckConstraint(
                condition=Q(origin="platform", sealed_private_key__isnull=False)
                | Q(origin="tenant", sealed_private_key__isnull=True),
                name="nodekey_private_half_by_origin",
            ),
            models.CheckConstraint(
                condition=Q(status="active", retired_at__isnull=True)
                | Q(status="retired", retired_at__isnull=False),
                name="nodekey_retired_when_marked",
            ),
        ]
        indexes = [models.Index(fields=["node", "created_at"], name="nodekey_node_created")]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
