"""Verification sessions (KYC), shaped like Stripe Identity's: ``requires_input`` →
``processing`` → ``verified``, or back to ``requires_input`` with a ``last_error``;
``requires_review`` when an operator must decide (a sanctions hit); ``canceled``;
``redacted``. Each change is a transition row (the dashboard shows them) and an event.

And links to the simulated social identity providers (``social.py``): a link starts with a
nonce, and completes once, with an id_token the platform verified."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from sandbox.identities.models import Person
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet


class SessionStatus(models.TextChoices):
    REQUIRES_INPUT = "requires_input", "Requires input"
    PROCESSING = "processing", "Processing"
    REQUIRES_REVIEW = "requires_review", "Requires review"
    VERIFIED = "verified", "Verified"
    CANCELED = "canceled", "Canceled"
    REDACTED = "redacted", "Redacted"


class SessionType(models.TextChoices):
    ID_NUMBER = "id_number", "National id number"
    PHONE = "phone", "Phone (a code sent by SMS)"
    DOCUMENT = "document", "Identity document, with a selfie (simulated)"
    BANK_ACCOUNT = "bank_account", "Real name at a bank account"


# Where a session can go from each state (the services check it; constraints guard the
# fields each state needs).
TRANSITIONS: dict[str, frozenset[str]] = {
    "requires_input": frozenset({"processing", "canceled", "redacted"}),
    "processing": frozenset({"verified", "requires_input", "requires_review"}),
    "requires_review": frozenset({"verified", "requires_input", "canceled", "redacted"}),
    "verified": frozenset({"redacted"}),
    "canceled": frozenset({"redacted"}),
    "redacted": frozenset(),
}


class VerificationSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="verification_sessions"
    )
    node = models.ForeignKey(
        Node,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The person's node when the session started: its clock times the session.",
    )
    type = models.CharField(max_length=16, choices=SessionType.choices)
    status = models.CharField(
        max_length=16, choices=SessionStatus.choices, default=SessionStatus.REQUIRES_INPUT
    )
    # What was submitted, for processing (cleared on redaction). Never shown by the API as
    # entered: the presenter shows only what was checked.
    submitted = models.JSONField(default=dict, blank=True)
    attempt = models.PositiveIntegerField(default=0, help_text="Submissions so far.")
    # The phone code "sent" by SMS: shown to the tester in the dashboard and by the test
    # helper, never in the session's API answer.
    phone_code = models.CharField(max_length=6, blank=True)
    last_error_code = models.CharField(max_length=40, blank=True)
    last_error_reason = models.CharField(max_length=200, blank=True)
    review_reason = models.CharField(max_length=40, blank=True)
    name_match_score = models.PositiveSmallIntegerField(null=True, blank=True)
    verified_level = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(help_text="On the node's clock.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    redacted_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SessionStatus.values), name="idv_session_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(type__in=SessionType.values), name="idv_session_type_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="processing") | Q(submitted_at__isnull=False, attempt__gt=0),
                name="idv_processing_was_submitted",
            ),
            models.CheckConstraint(
                condition=~Q(status="verified")
                | Q(
                    verified_at__isnull=False,
                    verified_level__in=["secondary", "real_name"],
                    last_error_code="",
                ),
                name="idv_verified_has_level",
            ),
            models.CheckConstraint(
                condition=Q(verified_at__isnull=True, verified_level="")
                | Q(status__in=["verified", "redacted"]),
                name="idv_level_only_when_verified",
            ),
            models.CheckConstraint(
                condition=~Q(status="requires_review") | ~Q(review_reason=""),
                name="idv_review_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="canceled") | Q(canceled_at__isnull=False),
                name="idv_canceled_has_time",
            ),
            # Redacted: the time set, and nothing submitted kept.
            models.CheckConstraint(
                condition=~Q(status="redacted")
                | Q(redacted_at__isnull=False, submitted={}, phone_code=""),
                name="idv_redacted_holds_nothing",
            ),
            models.CheckConstraint(
                condition=Q(last_error_code="") | Q(status__in=["requires_input", "canceled"]),
                name="idv_error_only_when_input_needed",
            ),
            models.CheckConstraint(
                condition=Q(name_match_score__isnull=True) | Q(name_match_score__lte=100),
                name="idv_score_in_range",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="idv_session_tenant_recent"),
            models.Index(fields=["person", "-created_at"], name="idv_session_person_recent"),
        ]

    def __str__(self) -> str:
        return f"Verification session {self.pk} ({self.type}, {self.status})"


class SessionTransitionQuerySet(TenantQuerySet["SessionTransition"]):
    tenant_path = "session__tenant"


class SessionTransition(models.Model):
    """One change of a session's state: from, to, why, by whom, when (on the node's clock)."""

    id = models.BigAutoField(primary_key=True)
    session = models.ForeignKey(
        VerificationSession, on_delete=models.CASCADE, related_name="transitions"
    )
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, choices=SessionStatus.choices)
    error_code = models.CharField(max_length=40, blank=True)
    actor = models.CharField(max_length=200)
    at = models.DateTimeField()

    objects = SessionTransitionQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_status=models.F("to_status")), name="idv_transition_changes"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_status or '(new)'} → {self.to_status}"


class SocialLink(models.Model):
    """A person's account at a simulated social identity provider, linked once the platform
    verified the provider's id_token (signature by the provider's JWKS, iss, aud, exp and
    this link's nonce)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        LINKED = "linked", "Linked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="social_links")
    provider = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    nonce = models.CharField(max_length=64, unique=True)
    subject = models.CharField(max_length=255, blank=True, help_text="The provider's sub.")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    linked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status="pending", subject="", linked_at__isnull=True)
                | Q(status="linked", linked_at__isnull=False) & ~Q(subject=""),
                name="idv_social_linked_has_subject",
            ),
            # One provider account links to one person of a tenant.
            models.UniqueConstraint(
                fields=["tenant", "provider", "subject"],
                condition=Q(status="linked"),
                name="idv_social_account_once",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="idv_social_recent")]

    def __str__(self) -> str:
        return f"{self.provider} link of {self.person_id} ({self.status})"
