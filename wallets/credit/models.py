"""Credit standings (one row per computation, a history) and the history attestations each
computation found, with their windows of evidence. A standing belongs to exactly one
subject: a person (``identities.Person``) or a node."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from sandbox.identities.models import Person
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.scoping import TenantQuerySet
from wallets.credit import attestations, scoring


class CreditStanding(models.Model):
    class Trigger(models.TextChoices):
        DAILY = "daily", "Daily"
        ON_DEMAND = "on_demand", "On demand"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="credit_standings"
    )
    node = models.ForeignKey(
        Node, on_delete=models.CASCADE, null=True, blank=True, related_name="credit_standings"
    )
    score = models.PositiveSmallIntegerField()
    reason_codes = models.JSONField(default=list, blank=True)
    verification_level = models.CharField(max_length=16)
    metrics = models.JSONField(default=dict, blank=True, help_text="The formula's inputs.")
    points = models.JSONField(default=dict, blank=True, help_text="Points per factor.")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    day = models.DateField(help_text="The subject's day (Asia/Seoul) of ``as_of``.")
    as_of = models.DateTimeField(help_text="The subject's time (its node's test clock).")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=scoring.MIN_SCORE, score__lte=scoring.MAX_SCORE),
                name="credit_standing_score_range",
            ),
            models.CheckConstraint(
                condition=Q(person__isnull=False, node__isnull=True)
                | Q(person__isnull=True, node__isnull=False),
                name="credit_standing_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(trigger__in=["daily", "on_demand"]),
                name="credit_standing_trigger_valid",
            ),
            # The daily job computes a subject's day once (a second run changes nothing).
            models.UniqueConstraint(
                fields=["person", "day"],
                condition=Q(trigger="daily", person__isnull=False),
                name="credit_standing_person_daily_once",
            ),
            models.UniqueConstraint(
                fields=["node", "day"],
                condition=Q(trigger="daily", node__isnull=False),
                name="credit_standing_node_daily_once",
            ),
        ]
        indexes = [
            models.Index(fields=["person", "-as_of"], name="credit_standing_person_recent"),
            models.Index(fields=["node", "-as_of"], name="credit_standing_node_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.score} for {self.person_id or self.node_id} ({self.day})"


class HistoryAttestation(models.Model):
    class Kind(models.TextChoices):
        ACCOUNT_AGE = attestations.ACCOUNT_AGE, "Account age"
        REGULAR_INCOME = attestations.REGULAR_INCOME, "Regular incoming payments"
        NO_RETURNS = attestations.NO_RETURNS, "No returns"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    standing = models.ForeignKey(
        CreditStanding, on_delete=models.CASCADE, related_name="attestations"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    node = models.ForeignKey(
        Node, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    statement = models.CharField(max_length=200)
    value = models.BigIntegerField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    evidence = models.JSONField(default=dict, blank=True)
    issued_at = models.DateTimeField(help_text="The subject's time of the computation.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["standing", "kind"], name="attestation_once"),
            models.CheckConstraint(
                condition=Q(window_start__lte=models.F("window_end")),
                name="attestation_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=list(attestations.KINDS)), name="attestation_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.person_id or self.node_id}"
