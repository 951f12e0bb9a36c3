"""Settlement: windows, their positions and report, contracts; operators abort windows and
set contracts."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clearing import selectors, settlement
from clearing.api.common import IsTenantOrOperator, tenant_or_none
from clearing.caps import parse_caps
from sandbox.tenants.access import actor_for
from sandbox.tenants.permissions import IsOperator


class SettlementWindowListApi(APIView):
    permission_classes = [IsTenantOrOperator]

    @extend_schema(
        operation_id="v1_clearing_settlements_list", responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        return Response(selectors.windows_list())


class ContractListApi(APIView):
    """Settlement contracts: each of your nodes' cycle and net debit caps (operators: every
    node's). Operators change them with PUT /operator/clearing/contracts/<node>."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(selectors.contracts_visible(tenant=tenant_or_none(request)))


class SettlementWindowApi(APIView):
    """A window's gross, bilateral and multilateral positions and its instructions."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, window_id):
        window = selectors.window_get(window_id)
        return Response(selectors.window_document(window, tenant=tenant_or_none(request)))


class SettlementReportCsvApi(APIView):
    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, window_id):
        window = selectors.window_get(window_id)
        report = selectors.window_report_csv(window, tenant=tenant_or_none(request))
        response = HttpResponse(report, content_type="text/csv")
        name = f"settlement-{window.cycle}-{window.start_day}-{window.end_day}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class OperatorWindowAbortApi(APIView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=300)

    @extend_schema(request=InputSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, window_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        window = settlement.window_abort(
            window=selectors.window_get(window_id),
            reason=data.validated_data["reason"],
            actor=actor_for(request),
        )
        return Response(selectors.window_document(window))


class OperatorContractApi(APIView):
    """A node's settlement contract: its cycle and net debit caps (decimal strings)."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        cycle = serializers.ChoiceField(choices=["daily", "t_plus_1", "weekly"])
        net_debit_caps = serializers.DictField(child=serializers.CharField(), required=False)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, node_id):
        return Response(selectors.contract_of(selectors.node_get(node_id)))

    @extend_schema(request=InputSerializer, responses={200: OpenApiTypes.OBJECT})
    def put(self, request, node_id):
        node = selectors.node_get(node_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        caps = parse_caps(data.validated_data.get("net_debit_caps", {}))
        settlement.contract_set(
            node=node,
            cycle=data.validated_data["cycle"],
            caps=caps if "net_debit_caps" in data.validated_data else None,
            actor=actor_for(request),
        )
        return Response(selectors.contract_of(node))
