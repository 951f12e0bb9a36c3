"""Test clock closes (a tester's own day): ending the day, the closes and their proofs."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from clearing import selectors
from clearing.api.days import ProofOutput
from clearing.clock_closing import clock_end_day
from clearing.models import ClockClose
from sandbox.api.views import OutputModelSerializer
from sandbox.events.api import ClockDetailOutput
from sandbox.events.models import TestClock
from sandbox.tenants.api import TenantScopedListView, TenantScopedView


class ClockCloseOutput(OutputModelSerializer):
    block_height = serializers.IntegerField(source="anchor.height", allow_null=True)
    block_hash = serializers.CharField(source="anchor.block_hash", allow_null=True)
    anchor_label = serializers.CharField(help_text="The label of its block: day/close id.")
    status = serializers.CharField(help_text="pending, or closed once anchored")

    class Meta:
        model = ClockClose
        fields = [
            "day", "sequence", "status", "leaf_count", "root", "block_height", "block_hash",
            "anchor_label", "created_at", "closed_at",
        ]  # fmt: skip


class ClockCloseDetailOutput(ClockCloseOutput):
    transactions = serializers.SerializerMethodField(
        help_text="The close's transactions, in leaf order."
    )

    class Meta(ClockCloseOutput.Meta):
        fields = [*ClockCloseOutput.Meta.fields, "transactions"]

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_transactions(self, close: ClockClose) -> list[str]:
        return selectors.clock_close_transaction_ids(close)


class _ClockView(TenantScopedView):
    """Endpoints under one of your test clocks (another tenant's is a 404)."""

    def clock(self, clock_id: str) -> TestClock:
        return selectors.clock_get(tenant=self.tenant, clock_id=clock_id)


class ClockEndDayApi(_ClockView):
    """End the clock's day now: advance it to the next midnight (clearing time zone), which
    runs what falls due on the way, then closes and anchors the day. Answers 202 with
    status "advancing"; poll the clock until "ready", then list its closes."""

    @extend_schema(responses={202: ClockDetailOutput})
    def post(self, request: Request, clock_id: str) -> Response:
        clock = clock_end_day(clock=self.clock(clock_id), actor=self.actor)
        clock.refresh_from_db()
        return Response(ClockDetailOutput(clock).data, status=status.HTTP_202_ACCEPTED)


class ClockCloseListApi(TenantScopedListView):
    """The clock's closed (and pending) days, newest first."""

    serializer_class = ClockCloseOutput

    def get_queryset(self) -> QuerySet[ClockClose]:
        clock = selectors.clock_get(tenant=self.tenant, clock_id=self.kwargs["clock_id"])
        return selectors.clock_closes(tenant=self.tenant, clock=clock)


class ClockCloseDetailApi(_ClockView):
    """One close of the clock (``day`` as YYYY-MM-DD) with its transactions, in leaf order."""

    @extend_schema(responses=ClockCloseDetailOutput)
    def get(self, request: Request, clock_id: str, day: str) -> Response:
        close = selectors.clock_close_get(
            tenant=self.tenant, clock=self.clock(clock_id), day=selectors.parse_day(day)
        )
        return Response(ClockCloseDetailOutput(close).data)


class ClockCloseProofApi(_ClockView):
    """The inclusion proof of one of the close's transactions, for ``verify_proof.py``:
    the same document as a day's proof, anchored in a block of kind "clock"."""

    @extend_schema(responses=ProofOutput)
    def get(self, request: Request, clock_id: str, day: str, transaction_id: str) -> Response:
        return Response(
            selectors.clock_close_proof(
                tenant=self.tenant,
                clock=self.clock(clock_id),
                day=selectors.parse_day(day),
                transaction_id=transaction_id,
            )
        )
