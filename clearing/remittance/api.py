"""Remittance API: create, list, detail with legs, travel-rule data, receipt, and the test
helper that moves a remittance to any state. Error codes: docs/fx.md, "Remittance"."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clearing.remittance import presenters, selectors, services
from clearing.remittance.models import Remittance, RemittanceLeg
from sandbox.api.views import PresenterSerializer
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from wallets import inputs
from wallets.api import IDEMPOTENCY_PARAMETER
from wallets.idempotency import idempotent
from wallets.inputs import AmountField
from wallets.selectors import account_get


class RemittanceLegOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RemittanceLeg.Kind.choices)
    position = serializers.IntegerField()
    transaction_id = serializers.UUIDField()
    reversal_transaction_id = serializers.UUIDField(allow_null=True)
    amount_in = serializers.CharField()
    currency_in = serializers.CharField()
    amount_out = serializers.CharField()
    currency_out = serializers.CharField()
    rate = serializers.CharField(allow_null=True, help_text="Target per source unit, quoted.")
    reference_rate = serializers.CharField(allow_null=True, help_text="The mid rate.")
    spread_bps = serializers.IntegerField(allow_null=True)
    fee = serializers.CharField(allow_null=True)
    fee_currency = serializers.CharField(allow_null=True)
    quote_id = serializers.UUIDField(allow_null=True)
    bitcoin_txid = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class RemittanceOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Remittance) -> dict[str, Any]:
        return presenters.remittance_json(instance)

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Remittance.Status.choices)
    sender_node_id = serializers.UUIDField()
    sender_account_id = serializers.UUIDField()
    beneficiary_node_id = serializers.UUIDField()
    beneficiary_account_id = serializers.UUIDField()
    source_currency = serializers.CharField()
    target_currency = serializers.CharField()
    source_amount = serializers.CharField()
    btc_amount = serializers.CharField(allow_null=True)
    target_amount = serializers.CharField(allow_null=True)
    memo = serializers.CharField()
    reference = serializers.CharField()
    failed_leg = serializers.CharField(allow_null=True)
    failure_code = serializers.CharField(allow_null=True)
    failure_message = serializers.CharField(allow_null=True)
    bitcoin_txid = serializers.CharField(allow_null=True)
    legs = RemittanceLegOutput(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TravelRulePartySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    address = serializers.CharField(max_length=200, required=False)
    country = serializers.CharField(max_length=200, required=False)
    date_of_birth = serializers.CharField(max_length=200, required=False)
    account_reference = serializers.CharField(max_length=200, required=False)


class TravelRuleOutput(serializers.Serializer):
    originator = TravelRulePartySerializer()
    beneficiary = TravelRulePartySerializer()


class RemittanceLegProofOutput(serializers.Serializer):
    kind = serializers.CharField()
    transaction_id = serializers.UUIDField()
    proof = serializers.JSONField(allow_null=True, help_text="Inclusion proof (docs/clearing.md).")
    proof_error = serializers.CharField(allow_null=True, help_text="day_not_closed, ...")
    reversal = serializers.JSONField(required=False)


class RemittanceReceiptOutput(serializers.Serializer):
    format = serializers.CharField(help_text=f'"{selectors.RECEIPT_FORMAT}"')
    remittance = RemittanceOutput()
    legs = RemittanceLegProofOutput(many=True)
    bitcoin = serializers.JSONField(
        allow_null=True, help_text="The bitcoin transaction, its block header and Merkle branch."
    )


class RemittanceListApi(TenantScopedListView):
    """Your remittances, newest first."""

    serializer_class = RemittanceOutput
    model = Remittance

    class InputSerializer(serializers.Serializer):
        sender_account_id = serializers.CharField(help_text="The sender's account (source ccy).")
        beneficiary_account_id = serializers.CharField(
            help_text="An account at a node in another country (destination currency)."
        )
        amount = AmountField(help_text="In the sender's currency, a decimal string.")
        memo = serializers.CharField(required=False, default="", allow_blank=True, max_length=140)
        reference = serializers.CharField(
            required=False,
            default="",
            allow_blank=True,
            max_length=140,
            help_text="The beneficiary reference (magic values: docs/fx.md).",
        )
        originator = TravelRulePartySerializer(help_text="Travel rule: sealed at rest.")
        beneficiary = TravelRulePartySerializer(help_text="Travel rule: sealed at rest.")

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.remittance_list(tenant=self.tenant)

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: RemittanceOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        """Send money to a beneficiary at a node in another country, over bitcoin. The
        legs run in a worker; watch the status or the ``remittance.*`` webhooks."""
        values = self.validated_input()
        sender = account_get(tenant=self.tenant, account_id=values["sender_account_id"])
        beneficiary = account_get(tenant=self.tenant, account_id=values["beneficiary_account_id"])
        remittance = services.remittance_create(
            tenant=self.tenant,
            actor=self.actor,
            request=services.RemittanceRequest(
                sender_account=sender,
                beneficiary_account=beneficiary,
                amount=inputs.parse_amount(values["amount"], sender.currency),
                originator=dict(values["originator"]),
                beneficiary=dict(values["beneficiary"]),
                memo=values["memo"],
                reference=values["reference"],
            ),
        )
        return Response(presenters.remittance_json(remittance), status=status.HTTP_201_CREATED)


class RemittanceDetailApi(TenantScopedView):
    @extend_schema(responses=RemittanceOutput)
    def get(self, request: Request, remittance_id: str) -> Response:
        """One remittance with its legs, their rates and fees."""
        remittance = selectors.remittance_get(tenant=self.tenant, remittance_id=remittance_id)
        return Response(presenters.remittance_json(remittance))


class RemittanceTravelRuleApi(TenantScopedView):
    @extend_schema(responses=TravelRuleOutput)
    def get(self, request: Request, remittance_id: str) -> Response:
        """The originator and beneficiary data, opened from its sealed form."""
        remittance = selectors.remittance_get(tenant=self.tenant, remittance_id=remittance_id)
        return Response(selectors.remittance_travel_rule(remittance=remittance))


class RemittanceReceiptApi(TenantScopedView):
    @extend_schema(responses=RemittanceReceiptOutput)
    def get(self, request: Request, remittance_id: str) -> Response:
        """Proof of every leg: each ledger transaction's inclusion proof once its day is
        closed, and the bitcoin transaction's Merkle branch to a block header. Check it
        offline with ``clearing/verify_remittance.py``."""
        remittance = selectors.remittance_get(tenant=self.tenant, remittance_id=remittance_id)
        return Response(selectors.remittance_receipt(remittance=remittance))


class TestHelperRemittanceAdvanceApi(TenantScopedView):
    """Move a remittance to ``status`` now: a later forward state runs its legs (ignoring a
    delay); ``bounced_back`` fails it at its next leg, ``funds_refunded`` also unwinds it."""

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Remittance.Status.choices)

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER],
        responses=RemittanceOutput,
        operation_id="v1_test_helpers_remittances_advance",
    )
    @idempotent
    def post(self, request: Request, remittance_id: str) -> Response:
        remittance = selectors.remittance_get(tenant=self.tenant, remittance_id=remittance_id)
        values = self.validated_input()
        moved = services.remittance_advance(
            remittance=remittance, status=values["status"], actor=self.actor
        )
        return Response(presenters.remittance_json(moved))
