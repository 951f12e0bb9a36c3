"""SD-JWT credentials: the issuer's keys, the holders' keys, credentials issued,
presentations made (who learned what), and verifiers' presentation requests."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from sandbox.identities.models import Person
from sandbox.nodekeys.algorithms import ES256
from sandbox.nodekeys.models import NodeHeldKey, PublicJwk, SigningKey
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet


class IssuerKey(PublicJwk, SigningKey):
    """One of the platform's ES256 (P-256) credential-signing keys. The private half rests
    sealed (``sandbox.nodekeys.keystore``); retired keys stay in the published JWKS
    (``/jwks/issuer.json``) and keep verifying what they signed."""

    ALGORITHM = ES256
    KEYRING_PURPOSE = "credential-issuer-keys"

    # The platform holds every issuer key.
    sealed_private_key = models.BinaryField()
    sealing_key_id = models.CharField(max_length=16)

    class Meta(SigningKey.Meta):
        constraints = [
            *SigningKey.Meta.constraints,
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="issuerkey_one_active"
            ),
        ]

    @property
    def sealing_owner(self) -> str:
        return "issuer"


class HolderKey(PublicJwk, NodeHeldKey):
    """A node's P-256 holder key: credentials are bound to it (``cnf.jwk``) and it signs
    the key-binding JWT of a presentation. The platform holds it (sealed) unless the tenant
    registered its own public key, and then the tenant makes presentations itself."""

    ALGORITHM = ES256
    KEYRING_PURPOSE = "credential-holder-keys"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="holder_keys")

    class Meta(NodeHeldKey.Meta):  # its constraints, not PublicJwk's (empty) Meta
        pass


class Credential(models.Model):
    """An SD-JWT VC the platform issued to a person (or a node's business identity), held
    by a node's holder key. The issued SD-JWT carries personal data, so it rests sealed."""

    class Kind(models.TextChoices):
        IDENTITY = "identity", "Identity"
        DELIVERY = "delivery", "Delivery"
        BUSINESS = "business", "Business identity"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="credentials")
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="credentials"
    )
    subject_node = models.ForeignKey(
        Node, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    holder_node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="credentials")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    vct = models.CharField(max_length=120)
    order_id = models.CharField(max_length=64, blank=True)
    claim_paths = models.JSONField(help_text="The selectively disclosable claim paths.")
    predicates = models.JSONField(help_text="Predicates computed at issuance (not personal data).")
    issuer_kid = models.CharField(max_length=64)
    holder_kid = models.CharField(max_length=64)
    sealed_sd_jwt = models.BinaryField()
    sealing_key_id = models.CharField(max_length=16)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(person__isnull=False, subject_node__isnull=True)
                | Q(person__isnull=True, subject_node__isnull=False),
                name="credential_one_subject",
            ),
            models.CheckConstraint(
                condition=~Q(kind="delivery") | ~Q(order_id=""),
                name="credential_delivery_has_order",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-issued_at"], name="credential_tenant_issued")]

    def __str__(self) -> str:
        return f"{self.kind} credential {self.pk}"


class PresentationRequest(models.Model):
    """A verifier node's request: the claims it asks for, bound to its audience and a
    fresh nonce. A nonce is answered once: a second verification is a replay."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        VERIFIED = "verified", "Verified"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="presentation_requests"
    )
    verifier_node = models.ForeignKey(
        Node, on_delete=models.CASCADE, related_name="presentation_requests"
    )
    vct = models.CharField(max_length=120)
    claims = models.JSONField(help_text="The claim paths asked for.")
    order_id = models.CharField(max_length=64, blank=True)
    audience = models.CharField(max_length=120)
    nonce = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    disclosed = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status="pending", verified_at__isnull=True)
                | Q(status="verified", verified_at__isnull=False),
                name="presentationrequest_verified_when_marked",
            ),
        ]

    def __str__(self) -> str:
        return f"presentation request {self.pk}"


class Presentation(models.Model):
    """A presentation made of a credential: to whom (audience) and which claims it
    disclosed. This is how a person sees who learned what."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="presentations")
    credential = models.ForeignKey(
        Credential, on_delete=models.CASCADE, related_name="presentations"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="presentations"
    )
    audience = models.CharField(max_length=120)
    verifier_node = models.ForeignKey(
        Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    nonce = models.CharField(max_length=64)
    disclosed_claims = models.JSONField(help_text="The claim paths this presentation disclosed.")
    signed_by = models.CharField(max_length=8, choices=HolderKey.Origin.choices)
    sd_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "nonce"], name="presentation_one_per_nonce"
            )
        ]
        indexes = [models.Index(fields=["person", "-created_at"], name="presentation_person")]

    def __str__(self) -> str:
        return f"presentation {self.pk}"
