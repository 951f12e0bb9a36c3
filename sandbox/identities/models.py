"""People and node identities, with their personal data sealed at rest.

Every personal field sits in a ``*_sealed`` column: AES-256-GCM under the row's own data key
(DEK), which is stored only wrapped (``wrapped_dek``) by a key-encryption key (KEK) of the
``IDENTITIES_MASTER_KEY`` keyring, named by ``kek_id``. The blind-index columns hold keyed
HMACs of the normalized phone, national id and e-mail, for exact lookups without the values.
Erasing a person destroys the data key: the ciphertext stays, and nothing opens it.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.db.models import Q

from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet


class VerificationLevel(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    SECONDARY = "secondary", "Secondary identity"
    REAL_NAME = "real_name", "Real name"

    @classmethod
    def rank(cls, level: str) -> int:
        """0, 1, 2 from unverified to real name: ``rank(a) >= rank(b)`` when a is at least b."""
        return [cls.UNVERIFIED, cls.SECONDARY, cls.REAL_NAME].index(cls(level))


class Person(models.Model):
    """Someone a tenant's service serves, linked to its node and its customer's accounts
    (wallets ``Account.customer_reference``)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REDACTED = "redacted", "Redacted (erased)"

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = (
        "legal_name",
        "birth_date",
        "national_id",
        "national_id_country",
        "phone",
        "email",
        "address",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="people")
    node = models.ForeignKey(
        Node, on_delete=models.CASCADE, null=True, blank=True, related_name="people"
    )
    customer_reference = models.CharField(max_length=64, blank=True)
    verification_level = models.CharField(
        max_length=16, choices=VerificationLevel.choices, default=VerificationLevel.UNVERIFIED
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The data key, wrapped by the KEK ``kek_id``; null once erased (crypto-shredding).
    wrapped_dek = models.BinaryField(null=True, blank=True)
    kek_id = models.CharField(max_length=16, blank=True)
    legal_name_sealed = models.BinaryField()
    birth_date_sealed = models.BinaryField()
    national_id_sealed = models.BinaryField()
    national_id_country_sealed = models.BinaryField()
    phone_sealed = models.BinaryField()
    email_sealed = models.BinaryField()
    address_sealed = models.BinaryField()
    # Keyed HMACs (hex) of the normalized values, under the tenant's index key; empty once erased.
    phone_index = models.CharField(max_length=64, blank=True)
    national_id_index = models.CharField(max_length=64, blank=True)
    email_index = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    redacted_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "people"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer_reference"],
                condition=~Q(customer_reference=""),
                name="person_customer_reference_unique",
            ),
            models.CheckConstraint(
                condition=Q(
                    status="active",
                    wrapped_dek__isnull=False,
                    redacted_at__isnull=True,
                )
                | Q(
                    status="redacted",
                    wrapped_dek__isnull=True,
                    redacted_at__isnull=False,
                    phone_index="",
                    national_id_index="",
                    email_index="",
                ),
                name="person_erased_has_no_key",
            ),
            models.CheckConstraint(
                condition=Q(verification_level__in=VerificationLevel.values),
                name="person_verification_level_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="person_tenant_recent"),
            models.Index(fields=["tenant", "phone_index"], name="person_phone_index"),
            models.Index(fields=["tenant", "national_id_index"], name="person_national_id_index"),
            models.Index(fields=["tenant", "email_index"], name="person_email_index"),
            models.Index(fields=["kek_id", "id"], name="person_kek"),
        ]

    def __str__(self) -> str:
        return f"person {self.pk}"

    @property
    def is_redacted(self) -> bool:
        return self.status == self.Status.REDACTED


class NodeIdentity(models.Model):
    """A node's own business identity, sealed the same way as a person's data."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("legal_name", "registration_number", "address")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="identity")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="node_identities")
    verification_level = models.CharField(
        max_length=16, choices=VerificationLevel.choices, default=VerificationLevel.UNVERIFIED
    )
    wrapped_dek = models.BinaryField()
    kek_id = models.CharField(max_length=16)
    legal_name_sealed = models.BinaryField()
    registration_number_sealed = models.BinaryField()
    address_sealed = models.BinaryField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "node identities"
        constraints = [
            models.CheckConstraint(
                condition=Q(verification_level__in=VerificationLevel.values),
                name="nodeidentity_verification_level_valid",
            ),
        ]
        indexes = [models.Index(fields=["kek_id", "id"], name="nodeidentity_kek")]

    def __str__(self) -> str:
        return f"identity of node {self.node_id}"


class BlindIndexKey(models.Model):
    """A tenant's random key for blind indexes, wrapped by the KEK like a data key: so
    re-wrapping (rotation) never has to recompute an index, and one tenant's index of a
    phone number says nothing about another's."""

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, primary_key=True, related_name="blind_index_key"
    )
    wrapped_key = models.BinaryField()
    kek_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["kek_id", "tenant"], name="blindindexkey_kek")]

    def __str__(self) -> str:
        return f"blind-index key of tenant {self.tenant_id}"


class AccessLogEntry(models.Model):
    """One read of a person's decrypted personal data: who, which fields, when, why."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="access_log")
    actor = models.CharField(max_length=200)
    fields = models.JSONField(default=list)
    purpose = models.CharField(max_length=500)
    accessed_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["person", "-accessed_at"], name="accesslog_person_recent")]

    def __str__(self) -> str:
        return f"{self.actor} read {', '.join(self.fields)} of person {self.person_id}"


class KeyRotationJob(models.Model):
    """Re-wrapping every data key under the primary KEK, in batches: the job's progress
    moves in the same transaction as each batch, so a killed job resumes where it stopped."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Phase(models.TextChoices):
        INDEX_KEYS = "index_keys", "Blind-index keys"
        PEOPLE = "people", "People"
        NODE_IDENTITIES = "node_identities", "Node identities"
        DONE = "done", "Done"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    target_kek_id = models.CharField(max_length=16)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.INDEX_KEYS)
    cursor = models.CharField(max_length=64, blank=True, help_text="Last id done in the phase.")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    batch_size = models.PositiveIntegerField(default=200)
    last_error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status__in=["pending", "running"]),
                name="keyrotationjob_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"key rotation {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        return min(99, self.processed * 100 // self.total) if self.total else 0
