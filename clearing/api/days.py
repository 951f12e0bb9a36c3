"""Closed days and proofs: a transaction's inclusion proof, the closed days and their
``.ots`` files, the anchor chain and the close log."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from clearing import selectors
from clearing.api.common import IsTenantOrOperator
from clearing.models import DayClose
from sandbox.errors import ApplicationError
from sandbox.tenants.api import TenantScopedView


class TransactionProofApi(TenantScopedView):
    """The whole inclusion proof of one of your transactions, for ``verify_proof.py``."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, transaction_id):
        return Response(
            selectors.transaction_proof(tenant=self.tenant, transaction_id=transaction_id)
        )


class DayCloseOutput(serializers.ModelSerializer):
    block_height = serializers.IntegerField(source="anchor.height", allow_null=True)
    block_hash = serializers.CharField(source="anchor.block_hash", allow_null=True)
    transactions = serializers.IntegerField(source="leaf_count")

    class Meta:
        model = DayClose
        fields = [
            "day", "status", "transactions", "root", "sequence", "log_root", "block_height",
            "block_hash", "closed_at",
        ]  # fmt: skip


class DayCloseListApi(ListAPIView):
    permission_classes = [IsTenantOrOperator]
    serializer_class = DayCloseOutput
    pagination_class = None

    def get_queryset(self):
        return selectors.day_closes()


class DayCloseDetailApi(APIView):
    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses=DayCloseOutput)
    def get(self, request, day):
        return Response(DayCloseOutput(selectors.closed_day_get(selectors.parse_day(day))).data)


class DayCloseOtsApi(APIView):
    """The day's OpenTimestamps proof: its root, committed by the anchor block's header."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, day):
        parsed = selectors.parse_day(day)
        response = HttpResponse(
            selectors.ots_for_day(parsed), content_type="application/octet-stream"
        )
        response["Content-Disposition"] = f'attachment; filename="fsbx-{parsed}.ots"'
        return response


class ChainApi(APIView):
    """The whole anchor chain: ``blk.dat`` format by default (what ``bitcoind -regtest``
    stores), or ``?format=json`` for a summary of every block."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["blk", "json"])],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request):
        if request.query_params.get("format") == "json":
            return Response({"chain": "bitcoin-regtest", "blocks": selectors.chain_summary()})
        response = HttpResponse(selectors.chain_file(), content_type="application/octet-stream")
        response["Content-Disposition"] = 'attachment; filename="fsbx-anchors-regtest.dat"'
        return response


class CloseLogApi(APIView):
    """The close log's head, or with ``first`` and ``second`` (sizes in closed days) an
    RFC 9162 consistency proof that the log at ``first`` is a prefix of the log at
    ``second``."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(
        parameters=[OpenApiParameter("first", int), OpenApiParameter("second", int)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        if "first" not in request.query_params:
            return Response(selectors.close_log_head())
        try:
            first = int(request.query_params["first"])
            second = (
                int(request.query_params["second"]) if "second" in request.query_params else None
            )
        except ValueError:
            raise ApplicationError(
                "first and second are integers.", code="invalid_log_size"
            ) from None
        return Response(selectors.close_log_consistency(first=first, second=second))
