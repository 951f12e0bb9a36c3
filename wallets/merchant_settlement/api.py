"""Merchant settlement API: a node's settlement contract, its batches, each batch's signed
statement, and a test helper that runs a cycle now. Error codes: docs/settlement.md."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.views import PresenterSerializer
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from sandbox.tenants.models import Node
from wallets import inputs
from wallets.banknet.models import AccountLink
from wallets.inputs import AmountField
from wallets.merchant_settlement import presenters, selectors, services, statements
from wallets.merchant_settlement.models import (
    MAX_DELAY_DAYS,
    SettlementBatch,
    SettlementContract,
)
from wallets.selectors import account_get


class MerchantContractOutput(PresenterSerializer):
    @staticmethod
    def present(instance: SettlementContract) -> dict[str, Any]:
        return presenters.contract_json(instance)

    id = serializers.UUIDField()
    node_id = serializers.UUIDField(help_text="The merchant node.")
    account_id = serializers.UUIDField(help_text="The account its orders are paid into.")
    link_id = serializers.UUIDField(help_text="The verified bank account link paid out to.")
    currency = serializers.CharField()
    cycle = serializers.ChoiceField(choices=SettlementContract.Cycle.choices)
    delay_days = serializers.IntegerField(help_text="n of T+n, Korean business days (daily).")
    fee_rate_bps = serializers.IntegerField()
    fixed_fee = serializers.CharField(help_text="Per order, a decimal string.")
    vat_rate_percent = serializers.IntegerField(help_text="VAT on fees: 10.")
    minimum_payout = serializers.CharField(help_text="Below it, the net is carried over.")
    effective_from = serializers.DateTimeField(help_text="Orders paid from then on settle.")
    next_run_date = serializers.DateField(allow_null=True, help_text="Runs at 10:00 KST.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SettlementBatchOutput(PresenterSerializer):
    @staticmethod
    def present(instance: SettlementBatch) -> dict[str, Any]:
        return presenters.batch_json(instance)

    id = serializers.UUIDField()
    node_id = serializers.UUIDField()
    contract_id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    currency = serializers.CharField()
    trigger = serializers.ChoiceField(choices=SettlementBatch.Trigger.choices)
    run_date = serializers.DateField(allow_null=True, help_text="A scheduled cycle's.")
    cutoff = serializers.DateTimeField(help_text="Orders paid and refunds made before it.")
    status = serializers.ChoiceField(choices=SettlementBatch.Status.choices)
    fee_rate_bps = serializers.IntegerField()
    fixed_fee = serializers.CharField()
    minimum_payout = serializers.CharField()
    order_count = serializers.IntegerField()
    refund_count = serializers.IntegerField()
    gross = serializers.CharField()
    refunds = serializers.CharField()
    fees = serializers.CharField()
    vat = serializers.CharField()
    carried_in = serializers.CharField()
    net = serializers.CharField(help_text="gross - refunds - fees - vat + carried_in")
    payout_amount = serializers.CharField()
    carried_out = serializers.CharField(help_text="What the next batch takes over.")
    carried_into_id = serializers.UUIDField(allow_null=True)
    fee_transaction_id = serializers.UUIDField(allow_null=True)
    withdrawal_id = serializers.UUIDField(allow_null=True, help_text="The payout.")
    failure_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class StatementSignatureOutput(serializers.Serializer):
    batch_id = serializers.UUIDField()
    sha256 = serializers.CharField(help_text="SHA-256 of the statement CSV, hex.")
    jws = serializers.CharField(
        help_text="Detached compact JWS (header..signature) whose payload is the raw SHA-256."
    )
    jwks_url = serializers.URLField(help_text="The platform's public keys.")


class MerchantContractInput(serializers.Serializer):
    cycle = serializers.ChoiceField(choices=SettlementContract.Cycle.values)
    delay_days = serializers.IntegerField(
        required=False, default=1, help_text=f"1 to {MAX_DELAY_DAYS} (daily cycles)."
    )
    fee_rate_bps = serializers.IntegerField(help_text="0 to 10000.")
    fixed_fee = AmountField(required=False, help_text='Per order, e.g. "100"; default 0.')
    minimum_payout = AmountField(required=False, help_text="Default 0.")


def _money(values: dict[str, Any], field: str, currency: str) -> int:
    value = values.get(field)
    return 0 if value is None else inputs.parse_amount(value, currency, field, allow_zero=True)


def _terms(values: dict[str, Any], currency: str) -> services.Terms:
    return services.Terms(
        cycle=values["cycle"],
        delay_days=values["delay_days"],
        fee_rate_bps=values["fee_rate_bps"],
        fixed_fee=_money(values, "fixed_fee", currency),
        minimum_payout=_money(values, "minimum_payout", currency),
    )


def _link(view: TenantScopedView, link_id: str) -> AccountLink:
    return AccountLink.objects.select_related("bank_account__bank").get_for_tenant(
        view.tenant, link_id
    )


class NodeSettlementContractApi(TenantScopedView):
    class InputSerializer(MerchantContractInput):
        account_id = serializers.CharField(help_text="The node's account orders are paid into.")
        link_id = serializers.CharField(help_text="The node's verified bank account link.")

    @extend_schema(responses=MerchantContractOutput)
    def get(self, request: Request, node_id: str) -> Response:
        """The node's settlement contract (404 ``contract_not_found``)."""
        contract = selectors.contract_of_node(tenant=self.tenant, node_id=node_id)
        return Response(presenters.contract_json(contract))

    @extend_schema(responses={201: MerchantContractOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """Give a merchant node its settlement contract; the first cycle is scheduled at
        once. The payout link must be verified with 1 won (409 ``link_not_verified``)."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        values = self.validated_input()
        account = account_get(tenant=self.tenant, account_id=values["account_id"])
        contract = services.contract_create(
            actor=self.actor,
            node=node,
            account=account,
            link=_link(self, values["link_id"]),
            terms=_terms(values, account.currency),
        )
        return Response(presenters.contract_json(contract), status=status.HTTP_201_CREATED)

    @extend_schema(responses=MerchantContractOutput)
    def patch(self, request: Request, node_id: str) -> Response:
        """Change the terms or the payout link from the next batch on; a changed cycle is
        scheduled anew. The account cannot change (400 ``account_immutable``)."""
        contract = selectors.contract_of_node(tenant=self.tenant, node_id=node_id)
        changes = self.validated_input(partial=True)
        if "account_id" in changes:
            raise inputs.invalid(
                "account_id", "A contract keeps its account.", code="account_immutable"
            )
        current = presenters.contract_json(contract)
        values = {**current, **changes}
        link = _link(self, changes["link_id"]) if "link_id" in changes else None
        contract = services.contract_update(
            actor=self.actor,
            contract=contract,
            link=link,
            terms=_terms(values, contract.currency),
        )
        return Response(presenters.contract_json(contract))


class NodeSettlementRunApi(TenantScopedView):
    @extend_schema(responses={201: SettlementBatchOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """Test helper: run a settlement cycle now, up to the node's clock (409
        ``nothing_to_settle`` when nothing waits)."""
        contract = selectors.contract_of_node(tenant=self.tenant, node_id=node_id)
        batch = services.settlement_run_now(actor=self.actor, contract=contract)
        return Response(presenters.batch_json(batch), status=status.HTTP_201_CREATED)


class SettlementBatchListApi(TenantScopedListView):
    """Your merchants' settlement batches, newest first."""

    serializer_class = SettlementBatchOutput

    class FilterSerializer(serializers.Serializer):
        node = serializers.CharField(required=False, help_text="A node id.")
        status = serializers.ChoiceField(choices=SettlementBatch.Status.values, required=False)

    def get_queryset(self) -> QuerySet[SettlementBatch]:
        params = self.request.query_params
        return selectors.batches(
            tenant=self.tenant,
            filters={"node": params.get("node"), "status": params.get("status")},
        )


class SettlementBatchDetailApi(TenantScopedView):
    @extend_schema(responses=SettlementBatchOutput)
    def get(self, request: Request, batch_id: str) -> Response:
        """One settlement batch."""
        batch = selectors.batch_get(tenant=self.tenant, batch_id=batch_id)
        return Response(presenters.batch_json(batch))


class SettlementStatementApi(TenantScopedView):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, batch_id: str) -> HttpResponse:
        """The batch's statement as CSV (RFC 4180): its orders, refunds, carried-in amount
        and totals. Its detached signature is in the ``Statement-Signature`` header and at
        ``statement_signature``."""
        batch = selectors.batch_get(tenant=self.tenant, batch_id=batch_id)
        content = statements.statement_csv(batch)
        response = HttpResponse(content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="settlement-{batch.pk}.csv"'
        response["Statement-Signature"] = statements.statement_signature(content).jws
        return response


class SettlementStatementSignatureApi(TenantScopedView):
    @extend_schema(responses=StatementSignatureOutput)
    def get(self, request: Request, batch_id: str) -> Response:
        """The platform's detached JWS over the statement's SHA-256: put the base64url of
        the CSV's SHA-256 between the two dots and verify with the platform's JWKS."""
        batch = selectors.batch_get(tenant=self.tenant, batch_id=batch_id)
        signed = statements.statement_signature(statements.statement_csv(batch))
        return Response(
            {
                "batch_id": str(batch.pk),
                "sha256": signed.sha256,
                "jws": signed.jws,
                "jwks_url": request.build_absolute_uri(reverse("platform-jwks")),
            }
        )
