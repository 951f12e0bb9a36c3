"""Escrow API: escrow contracts (create, list, get, release, refund), their disputes (open,
evidence) and the test helper that takes any action on a dispute. Money-moving POSTs need
an ``Idempotency-Key``. Codes and states: docs/escrow.md."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.pagination import CreatedCursorPagination
from sandbox.api.schema import path_choices
from sandbox.api.views import PresenterSerializer
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from sandbox.tenants.models import Node
from wallets import inputs
from wallets.api import IDEMPOTENCY_PARAMETER
from wallets.escrow import disputes, escrows, presenters
from wallets.escrow.models import Escrow, EscrowDispute, EscrowMovement
from wallets.idempotency import idempotent
from wallets.inputs import AmountField
from wallets.selectors import account_get

DECIMAL = 'A decimal string, e.g. "12.34".'

# --- Documented shapes: exactly what the presenters return -----------------------------------


class EscrowMovementOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EscrowMovement.Kind.choices)
    amount = serializers.CharField(help_text=DECIMAL)
    fee = serializers.CharField(help_text="Charged to the payee; 0 for refunds.")
    cause = serializers.ChoiceField(choices=Escrow.Resolution.choices)
    transaction_id = serializers.UUIDField(allow_null=True, help_text="The hold's capture.")
    fee_transaction_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()


class EscrowOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Escrow) -> dict[str, Any]:
        return presenters.escrow_json(instance)

    id = serializers.UUIDField()
    payer_node_id = serializers.UUIDField()
    payee_node_id = serializers.UUIDField()
    payer_account_id = serializers.UUIDField()
    payee_account_id = serializers.UUIDField()
    amount = serializers.CharField(help_text=DECIMAL)
    currency = serializers.CharField()
    released_amount = serializers.CharField(help_text="Gross, fees included.")
    refunded_amount = serializers.CharField()
    remaining_amount = serializers.CharField(help_text="Still held.")
    fee_amount = serializers.CharField(help_text="Fees charged to the payee so far.")
    fee_rate_bps = serializers.IntegerField()
    fixed_fee = serializers.CharField(help_text="Charged with the first release.")
    release_condition = serializers.ChoiceField(choices=Escrow.ReleaseCondition.choices)
    on_timeout = serializers.ChoiceField(choices=["refund", "release"])
    timeout_at = serializers.DateTimeField(help_text="The payer node's time.")
    dispute_window_ends_at = serializers.DateTimeField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=Escrow.Status.choices)
    resolution = serializers.ChoiceField(
        choices=["manual", "timeout", "dispute"], allow_null=True, help_text="Once closed."
    )
    terms = serializers.JSONField(help_text="The canonical terms (docs/escrow.md).")
    terms_hash = serializers.CharField(help_text="SHA-256 of the terms in RFC 8785 JSON, hex.")
    hold_id = serializers.UUIDField(allow_null=True, help_text="The hold of what remains.")
    dispute_id = serializers.UUIDField(allow_null=True)
    movements = EscrowMovementOutput(many=True)
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class EscrowDisputeOutput(PresenterSerializer):
    @staticmethod
    def present(instance: EscrowDispute) -> dict[str, Any]:
        return presenters.dispute_json(instance)

    id = serializers.UUIDField()
    escrow_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=EscrowDispute.Status.choices)
    reason = serializers.CharField()
    evidence = serializers.CharField()
    opened_at = serializers.DateTimeField()
    evidence_submitted_at = serializers.DateTimeField(allow_null=True)
    due_by = serializers.DateTimeField(help_text="Decided by the deadline rule at this time.")
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField()


def _filters(declared: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """The list's filters, judged by their declaration (400 on a status that is none)."""
    known = declared().fields
    serializer = declared(data={k: v for k, v in request.query_params.items() if k in known})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Escrows ---------------------------------------------------------------------------------


class EscrowListApi(TenantScopedListView):
    """Your escrows, newest first."""

    serializer_class = EscrowOutput

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Escrow.Status.values, required=False)
        node = serializers.CharField(required=False, help_text="A node id: payer or payee.")

    class InputSerializer(serializers.Serializer):
        payer_account_id = serializers.CharField()
        payee_account_id = serializers.CharField()
        amount = AmountField()
        currency = serializers.CharField()
        release_condition = serializers.CharField(
            help_text="manual (the payer releases; refunded on timeout) or deadline "
            "(released on timeout unless disputed)."
        )
        timeout_seconds = serializers.IntegerField(help_text="60 to 1209600 (14 days).")
        dispute_window_seconds = serializers.IntegerField(
            required=False, default=0, help_text="0 to timeout_seconds."
        )
        fee_rate_bps = serializers.IntegerField(
            required=False, default=0, help_text="0 to 10000, of each release, rounded down."
        )
        fixed_fee = AmountField(required=False, help_text="Charged with the first release.")
        description = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=200
        )

    def get_queryset(self) -> QuerySet[Escrow]:
        rows = Escrow.objects.for_tenant(self.tenant).order_by("-created_at", "-pk")
        params = _filters(self.FilterSerializer, self.request)
        if value := params.get("status"):
            rows = rows.filter(status=value)
        if value := params.get("node"):
            node = Node.objects.get_for_tenant(self.tenant, value)
            rows = rows.filter(Q(payer_node=node) | Q(payee_node=node))
        return rows

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: EscrowOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        """Hold the amount on the payer's account under these terms; released to the
        payee, refunded, or settled by the timeout or a dispute's decision."""
        values = self.validated_input()
        payer = account_get(
            tenant=self.tenant, account_id=values["payer_account_id"], field="payer_account_id"
        )
        payee = account_get(
            tenant=self.tenant, account_id=values["payee_account_id"], field="payee_account_id"
        )
        currency = inputs.parse_currency(values["currency"])
        fixed_fee = values.get("fixed_fee")
        escrow = escrows.escrow_create(
            tenant=self.tenant,
            actor=self.actor,
            payer_account=payer,
            payee_account=payee,
            amount=inputs.parse_amount(values["amount"], currency),
            currency=currency,
            release_condition=values["release_condition"],
            timeout_seconds=values["timeout_seconds"],
            dispute_window_seconds=values["dispute_window_seconds"],
            fee_rate_bps=values["fee_rate_bps"],
            fixed_fee=0
            if fixed_fee is None
            else inputs.parse_amount(fixed_fee, currency, "fixed_fee", allow_zero=True),
            description=values["description"],
        )
        return Response(presenters.escrow_json(escrow), status=status.HTTP_201_CREATED)


class EscrowDetailApi(TenantScopedView):
    @extend_schema(responses=EscrowOutput)
    def get(self, request: Request, escrow_id: str) -> Response:
        """One escrow, with its terms, their hash and every release and refund."""
        return Response(
            presenters.escrow_json(Escrow.objects.get_for_tenant(self.tenant, escrow_id))
        )


class EscrowReleaseApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        amount = AmountField(required=False, help_text="Default: all that remains.")

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses=EscrowOutput)
    @idempotent
    def post(self, request: Request, escrow_id: str) -> Response:
        """Release to the payee, in full or in part, less the fee. Refused with 409
        ``escrow_refunded`` after a refund, 422 ``amount_exceeds_remaining`` above what
        remains."""
        escrow = Escrow.objects.get_for_tenant(self.tenant, escrow_id)
        values = self.validated_input()
        amount = values.get("amount")
        escrow = escrows.escrow_release(
            escrow=escrow,
            actor=self.actor,
            amount=None if amount is None else inputs.parse_amount(amount, escrow.currency),
        )
        return Response(presenters.escrow_json(escrow))


class EscrowRefundApi(TenantScopedView):
    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses=EscrowOutput)
    @idempotent
    def post(self, request: Request, escrow_id: str) -> Response:
        """Give what remains back to the payer and close the escrow."""
        escrow = Escrow.objects.get_for_tenant(self.tenant, escrow_id)
        escrow = escrows.escrow_refund(escrow=escrow, actor=self.actor)
        return Response(presenters.escrow_json(escrow))


class EscrowDisputeOpenApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=500)

    @extend_schema(responses={201: EscrowDisputeOutput})
    def post(self, request: Request, escrow_id: str) -> Response:
        """The payer disputes the escrow, within its dispute window. What remains stays
        held until the dispute is decided."""
        escrow = Escrow.objects.get_for_tenant(self.tenant, escrow_id)
        values = self.validated_input()
        dispute = disputes.dispute_open(escrow=escrow, actor=self.actor, reason=values["reason"])
        return Response(presenters.dispute_json(dispute), status=status.HTTP_201_CREATED)


# --- Disputes --------------------------------------------------------------------------------


class OpenedCursorPagination(CreatedCursorPagination):
    ordering = ("-opened_at", "-pk")


class EscrowDisputeListApi(TenantScopedListView):
    """Your escrows' disputes, newest first."""

    serializer_class = EscrowDisputeOutput
    pagination_class = OpenedCursorPagination

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=EscrowDispute.Status.values, required=False)

    def get_queryset(self) -> QuerySet[EscrowDispute]:
        rows = EscrowDispute.objects.for_tenant(self.tenant).order_by("-opened_at", "-pk")
        if value := _filters(self.FilterSerializer, self.request).get("status"):
            rows = rows.filter(status=value)
        return rows


class EscrowDisputeDetailApi(TenantScopedView):
    @extend_schema(responses=EscrowDisputeOutput)
    def get(self, request: Request, dispute_id: str) -> Response:
        """One dispute."""
        return Response(
            presenters.dispute_json(EscrowDispute.objects.get_for_tenant(self.tenant, dispute_id))
        )


class EscrowDisputeEvidenceApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        evidence = serializers.CharField(max_length=5000)

    @extend_schema(responses=EscrowDisputeOutput)
    def post(self, request: Request, dispute_id: str) -> Response:
        """The payee's answer to an opened dispute, once."""
        dispute = EscrowDispute.objects.get_for_tenant(self.tenant, dispute_id)
        values = self.validated_input()
        dispute = disputes.dispute_submit_evidence(
            dispute=dispute, actor=self.actor, evidence=values["evidence"]
        )
        return Response(presenters.dispute_json(dispute))


class TestHelperEscrowDisputeApi(TenantScopedView):
    """Take any action on a dispute: ``submit_evidence`` (optional ``evidence``), ``win``
    (decided for the payer: refund), ``lose`` (decided for the payee: release), or
    ``deadline`` (decide now as the deadline rule would)."""

    class InputSerializer(serializers.Serializer):
        evidence = serializers.CharField(required=False, max_length=5000)

    @extend_schema(
        parameters=[
            IDEMPOTENCY_PARAMETER,
            path_choices("action", ["submit_evidence", "win", "lose", "deadline"]),
        ],
        responses=EscrowDisputeOutput,
        operation_id="v1_test_helpers_escrow_disputes_action",
    )
    @idempotent
    def post(self, request: Request, dispute_id: str, action: str) -> Response:
        dispute = EscrowDispute.objects.get_for_tenant(self.tenant, dispute_id)
        values = self.validated_input()
        if action == "submit_evidence":
            dispute = disputes.dispute_submit_evidence(
                dispute=dispute,
                actor=self.actor,
                evidence=values.get("evidence") or "Evidence submitted by a test helper.",
                audit_action="test_helper.escrow_dispute_submit_evidence",
            )
        elif action in disputes.TEST_HELPER_OUTCOMES:
            dispute = disputes.dispute_decide_as_test_helper(
                dispute=dispute, action=action, actor=self.actor
            )
        else:
            raise inputs.invalid("action", f"Unknown action {action!r}.", code="unknown_action")
        return Response(presenters.dispute_json(dispute))
