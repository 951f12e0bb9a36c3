"""Settlement: windows, their positions and report, contracts; operators abort windows and
set contracts."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from clearing import selectors, settlement
from clearing.api.common import IsTenantOrOperator, tenant_or_none
from clearing.caps import parse_caps
from sandbox.api.views import ApiView
from sandbox.tenants.access import actor_for
from sandbox.tenants.permissions import IsOperator
from wallets.inputs import AmountField


class WindowSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    cycle = serializers.CharField(help_text="daily, t_plus_1 or weekly")
    start_day = serializers.DateField()
    end_day = serializers.DateField()
    settle_on = serializers.DateField(help_text="The first day the window may settle.")
    status = serializers.CharField(help_text="open, closed, settled or aborted")
    transactions = serializers.IntegerField(help_text="Inter-node transactions it settled.")


class PositionOutput(serializers.Serializer):
    node = serializers.UUIDField()
    node_name = serializers.CharField()
    currency = serializers.CharField()
    gross_paid = serializers.CharField(help_text="Decimal string.")
    gross_received = serializers.CharField(help_text="Decimal string.")
    net = serializers.CharField(help_text="Decimal string; negative: the node pays.")


class InstructionOutput(serializers.Serializer):
    node = serializers.UUIDField()
    node_name = serializers.CharField()
    direction = serializers.CharField(help_text="pay or receive")
    counterparty = serializers.CharField()
    amount = serializers.CharField(help_text="Decimal string.")
    currency = serializers.CharField()
    bank_code = serializers.CharField()
    transaction = serializers.UUIDField(help_text="The settlement's ledger transaction.")


class BilateralOutput(serializers.Serializer):
    debtor = serializers.UUIDField()
    creditor = serializers.UUIDField()
    currency = serializers.CharField()
    amount = serializers.CharField(help_text="Decimal string.")


class WindowOutput(WindowSummaryOutput):
    settled_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()
    positions = PositionOutput(many=True)
    instructions = InstructionOutput(many=True)
    bilateral = BilateralOutput(many=True, required=False, help_text="Settled windows only.")


class ContractOutput(serializers.Serializer):
    node = serializers.UUIDField()
    node_name = serializers.CharField()
    cycle = serializers.CharField(help_text="daily, t_plus_1 or weekly")
    net_debit_caps = serializers.DictField(
        child=serializers.CharField(), help_text="Decimal strings per currency."
    )


class ContractListOutput(ContractOutput):
    tenant_name = serializers.CharField()
    cycle_label = serializers.CharField()


class SettlementWindowListApi(ApiView):
    """The latest settlement windows (at most 200), newest first."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(
        operation_id="v1_clearing_settlements_list", responses=WindowSummaryOutput(many=True)
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.windows_list())


class ContractListApi(ApiView):
    """Settlement contracts: each of your nodes' cycle and net debit caps (operators: every
    node's). Operators change them with PUT /operator/clearing/contracts/<node>."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses=ContractListOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(selectors.contracts_visible(tenant=tenant_or_none(request)))


class SettlementWindowApi(ApiView):
    """A window's gross, bilateral and multilateral positions and its instructions."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses=WindowOutput)
    def get(self, request: Request, window_id: str) -> Response:
        window = selectors.window_get(window_id)
        return Response(selectors.window_document(window, tenant=tenant_or_none(request)))


class SettlementReportCsvApi(ApiView):
    """The window's positions, instructions and bilateral debts, one CSV row each."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, window_id: str) -> HttpResponse:
        window = selectors.window_get(window_id)
        report = selectors.window_report_csv(window, tenant=tenant_or_none(request))
        response = HttpResponse(report, content_type="text/csv")
        name = f"settlement-{window.cycle}-{window.start_day}-{window.end_day}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class OperatorWindowAbortApi(ApiView):
    """Abort an open or closed window: it will not settle."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=300)

    @extend_schema(responses=WindowOutput)
    def post(self, request: Request, window_id: str) -> Response:
        values = self.validated_input()
        window = settlement.window_abort(
            window=selectors.window_get(window_id),
            reason=values["reason"],
            actor=actor_for(request),
        )
        return Response(selectors.window_document(window))


class OperatorContractApi(ApiView):
    """A node's settlement contract: its cycle and net debit caps (decimal strings)."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        cycle = serializers.ChoiceField(choices=["daily", "t_plus_1", "weekly"])
        net_debit_caps = serializers.DictField(child=AmountField(), required=False)

    @extend_schema(responses=ContractOutput)
    def get(self, request: Request, node_id: str) -> Response:
        return Response(selectors.contract_of(selectors.node_get(node_id)))

    @extend_schema(responses=ContractOutput)
    def put(self, request: Request, node_id: str) -> Response:
        node = selectors.node_get(node_id)
        values = self.validated_input()
        caps = parse_caps(values.get("net_debit_caps", {}))
        settlement.contract_set(
            node=node,
            cycle=values["cycle"],
            caps=caps if "net_debit_caps" in values else None,
            actor=actor_for(request),
        )
        return Response(selectors.contract_of(node))
