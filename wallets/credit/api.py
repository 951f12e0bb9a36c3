"""Credit standing API: a person's or a node's current standing with its history, an
on-demand recomputation, and the history attestations of the latest computation.
docs/identities.md, "Credit standing"."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.views import PresenterSerializer
from sandbox.tenants.api import TenantScopedView
from wallets.credit import presenters, selectors, services
from wallets.credit.models import CreditStanding, HistoryAttestation


class CreditStandingOutput(PresenterSerializer):
    @staticmethod
    def present(instance: CreditStanding) -> dict[str, Any]:
        return presenters.standing_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"credit_standing"')
    subject_type = serializers.ChoiceField(choices=["person", "node"])
    subject_id = serializers.UUIDField()
    score = serializers.IntegerField(min_value=1, max_value=99)
    reason_codes = serializers.ListField(
        child=serializers.CharField(),
        help_text="What lowered the score, most points lost first (docs/identities.md).",
    )
    reasons = serializers.ListField(child=serializers.CharField(), help_text="The codes, in words.")
    verification_level = serializers.CharField()
    points = serializers.DictField(
        child=serializers.IntegerField(), help_text="Points per factor of the formula."
    )
    metrics = serializers.DictField(help_text="The formula's inputs, read from the ledger.")
    trigger = serializers.ChoiceField(choices=CreditStanding.Trigger.choices)
    day = serializers.DateField(help_text="The subject's day (Asia/Seoul).")
    as_of = serializers.DateTimeField(help_text="The subject's time (its node's test clock).")


class HistoryAttestationOutput(PresenterSerializer):
    @staticmethod
    def present(instance: HistoryAttestation) -> dict[str, Any]:
        return presenters.attestation_json(instance)

    id = serializers.UUIDField()
    object = serializers.CharField(help_text='"history_attestation"')
    subject_type = serializers.ChoiceField(choices=["person", "node"])
    subject_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=HistoryAttestation.Kind.choices)
    statement = serializers.CharField()
    value = serializers.IntegerField(help_text="Days, fewest monthly payments, or returns.")
    window_start = serializers.DateTimeField(help_text="The evidence window's start.")
    window_end = serializers.DateTimeField()
    evidence = serializers.DictField()
    issued_at = serializers.DateTimeField()
    standing_id = serializers.UUIDField(help_text="The computation that found it.")


class CreditStandingWithHistoryOutput(serializers.Serializer):
    current = CreditStandingOutput(allow_null=True, help_text="Null before the first one.")
    history = CreditStandingOutput(
        many=True, help_text=f"Newest first, at most {selectors.HISTORY_LIMIT}."
    )


class AttestationListOutput(serializers.Serializer):
    results = HistoryAttestationOutput(many=True)


def _with_history(history: list[CreditStanding]) -> dict[str, Any]:
    return {
        "current": presenters.standing_json(history[0]) if history else None,
        "history": [presenters.standing_json(s) for s in history],
    }


class PersonCreditStandingApi(TenantScopedView):
    @extend_schema(responses=CreditStandingWithHistoryOutput)
    def get(self, request: Request, person_id: str) -> Response:
        """The person's credit standing (score 1-99 and reason codes) and its history."""
        person = selectors.person_of(tenant=self.tenant, person_id=person_id)
        return Response(_with_history(selectors.history_of(person=person)))


class PersonCreditStandingRecomputeApi(TenantScopedView):
    @extend_schema(request=None, responses={201: CreditStandingOutput})
    def post(self, request: Request, person_id: str) -> Response:
        """Compute the person's standing now, on their node's clock (410 or 409
        ``person_redacted`` for an erased person)."""
        person = selectors.person_of(tenant=self.tenant, person_id=person_id)
        standing = services.standing_recompute(actor=self.actor, person=person)
        return Response(presenters.standing_json(standing), status=status.HTTP_201_CREATED)


class PersonAttestationsApi(TenantScopedView):
    @extend_schema(responses=AttestationListOutput)
    def get(self, request: Request, person_id: str) -> Response:
        """The history attestations the latest computation found for the person."""
        person = selectors.person_of(tenant=self.tenant, person_id=person_id)
        found = selectors.attestations_of(person=person)
        return Response({"results": [presenters.attestation_json(a) for a in found]})


class NodeCreditStandingApi(TenantScopedView):
    @extend_schema(responses=CreditStandingWithHistoryOutput)
    def get(self, request: Request, node_id: str) -> Response:
        """The node's credit standing (score 1-99 and reason codes) and its history."""
        node = selectors.node_of(tenant=self.tenant, node_id=node_id)
        return Response(_with_history(selectors.history_of(node=node)))


class NodeCreditStandingRecomputeApi(TenantScopedView):
    @extend_schema(request=None, responses={201: CreditStandingOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """Compute the node's standing now, on its clock."""
        node = selectors.node_of(tenant=self.tenant, node_id=node_id)
        standing = services.standing_recompute(actor=self.actor, node=node)
        return Response(presenters.standing_json(standing), status=status.HTTP_201_CREATED)


class NodeAttestationsApi(TenantScopedView):
    @extend_schema(responses=AttestationListOutput)
    def get(self, request: Request, node_id: str) -> Response:
        """The history attestations the latest computation found for the node."""
        node = selectors.node_of(tenant=self.tenant, node_id=node_id)
        found = selectors.attestations_of(node=node)
        return Response({"results": [presenters.attestation_json(a) for a in found]})
