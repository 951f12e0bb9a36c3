"""Closed days and proofs: a transaction's inclusion proof, the closed days and their
``.ots`` files, the anchor chain and the close log."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from clearing import selectors
from clearing.api.common import IsTenantOrOperator
from clearing.models import DayClose
from sandbox.api.views import ApiView, OutputModelSerializer
from sandbox.errors import ApplicationError
from sandbox.tenants.api import TenantScopedView

# Fields named ``label`` or ``root`` carry ``type: ignore[assignment]``: the stubs see them
# override ``Field.label`` and ``Field.root``, but DRF's metaclass moves declared fields off
# the class, so nothing is overridden at run time.


class ProofAnchorOutput(serializers.Serializer):
    chain = serializers.CharField(help_text='"bitcoin-regtest".')
    kind = serializers.CharField(help_text="The block's kind: day, clock or transaction.")
    label = serializers.CharField(  # type: ignore[assignment]
        help_text="What the block anchors, e.g. the day."
    )
    height = serializers.IntegerField()
    block_hash = serializers.CharField()
    block_header = serializers.CharField(help_text="The block's 80-byte header (hex).")
    txid = serializers.CharField()
    transaction = serializers.CharField(
        help_text="The anchoring transaction, serialized (hex); its OP_RETURN holds the root."
    )
    tx_index = serializers.IntegerField(help_text="The transaction's place in its block.")
    tx_merkle_branch = serializers.ListField(
        child=serializers.CharField(),
        help_text="Branch hashes to the header's merkle root (internal byte order, bottom up).",
    )


class CloseLogEntryOutput(serializers.Serializer):
    sequence = serializers.IntegerField(help_text="The day's entry in the close log, from 0.")
    size = serializers.IntegerField()
    leaf = serializers.CharField(help_text="The close-log leaf (hex).")
    audit_path = serializers.ListField(child=serializers.CharField())
    root = serializers.CharField()  # type: ignore[assignment]


class ProofOutput(serializers.Serializer):
    """An inclusion proof document (``format`` fsbx-inclusion-proof/1)."""

    format = serializers.CharField()
    subject = serializers.DictField(help_text="What the leaf is, in words (not needed to verify).")
    leaf = serializers.CharField(help_text="The canonical leaf bytes (hex).")
    leaf_hash = serializers.CharField(help_text="SHA-256(0x00 || leaf) (hex).")
    leaf_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    audit_path = serializers.ListField(
        child=serializers.CharField(), help_text="RFC 9162 inclusion path, sibling first (hex)."
    )
    root = serializers.CharField()  # type: ignore[assignment]
    anchor = ProofAnchorOutput()
    close_log = CloseLogEntryOutput(
        required=False, help_text="A platform day's place in the close log (day proofs only)."
    )


class TransactionProofApi(TenantScopedView):
    """The whole inclusion proof of one of your transactions, to check offline with
    ``clearing/verify_proof.py``."""

    @extend_schema(responses=ProofOutput)
    def get(self, request: Request, transaction_id: str) -> Response:
        return Response(
            selectors.transaction_proof(tenant=self.tenant, transaction_id=transaction_id)
        )


class DayCloseOutput(OutputModelSerializer):
    block_height = serializers.IntegerField(source="anchor.height", allow_null=True)
    block_hash = serializers.CharField(source="anchor.block_hash", allow_null=True)
    transactions = serializers.IntegerField(source="leaf_count")

    class Meta:
        model = DayClose
        fields = [
            "day", "status", "transactions", "root", "sequence", "log_root", "block_height",
            "block_hash", "closed_at",
        ]  # fmt: skip


class DayCloseListApi(ApiView):
    """The platform's daily closes, newest day first (at most 400)."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses=DayCloseOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(DayCloseOutput(selectors.day_closes(), many=True).data)


class DayCloseDetailApi(ApiView):
    """One closed day (``day`` as YYYY-MM-DD): its root, count, close-log entry and block."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses=DayCloseOutput)
    def get(self, request: Request, day: str) -> Response:
        return Response(DayCloseOutput(selectors.closed_day_get(selectors.parse_day(day))).data)


class BlockSummaryOutput(serializers.Serializer):
    height = serializers.IntegerField()
    block_hash = serializers.CharField()
    prev_hash = serializers.CharField()
    kind = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    root = serializers.CharField()  # type: ignore[assignment]
    transactions = serializers.IntegerField()
    txid = serializers.CharField()
    time = serializers.DateTimeField()


class ChainSummaryOutput(serializers.Serializer):
    chain = serializers.CharField()
    blocks = BlockSummaryOutput(many=True)


@extend_schema_serializer(component_name="CloseLog")  # its name before it had one shape
class CloseLogOutput(serializers.Serializer):
    # One of two shapes, both typed here: the head (size, root) without ``first``, the
    # consistency proof (first, second, first_root, second_root, proof) with it.

    size = serializers.IntegerField(
        required=False, help_text="Closed days in the log (the head: without first)."
    )
    root = serializers.CharField(  # type: ignore[assignment]
        required=False, help_text="The log's root (hex; the head: without first)."
    )
    first = serializers.IntegerField(
        required=False, help_text="The earlier size (the consistency proof: with first)."
    )
    second = serializers.IntegerField(
        required=False, help_text="The later size (the consistency proof: with first)."
    )
    first_root = serializers.CharField(
        required=False, help_text="The root at first (hex; the consistency proof)."
    )
    second_root = serializers.CharField(
        required=False, help_text="The root at second (hex; the consistency proof)."
    )
    proof = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="RFC 9162 consistency proof (hex; the consistency proof).",
    )


class DayCloseOtsApi(ApiView):
    """The day's OpenTimestamps proof: its root, committed by the anchor block's header."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, day: str) -> HttpResponse:
        parsed = selectors.parse_day(day)
        response = HttpResponse(
            selectors.ots_for_day(parsed), content_type="application/octet-stream"
        )
        response["Content-Disposition"] = f'attachment; filename="fsbx-{parsed}.ots"'
        return response


class ChainApi(ApiView):
    """The whole anchor chain: ``blk.dat`` format by default (what ``bitcoind -regtest``
    stores), or ``?format=json`` for a summary of every block."""

    permission_classes = [IsTenantOrOperator]

    class FilterSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=["blk", "json"], required=False)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (200, "application/json"): ChainSummaryOutput,
        },
    )
    def get(self, request: Request) -> Response | HttpResponse:
        if request.query_params.get("format") == "json":
            return Response({"chain": "bitcoin-regtest", "blocks": selectors.chain_summary()})
        response = HttpResponse(selectors.chain_file(), content_type="application/octet-stream")
        response["Content-Disposition"] = 'attachment; filename="fsbx-anchors-regtest.dat"'
        return response


class CloseLogApi(ApiView):
    """The close log's head, or with ``first`` and ``second`` (sizes in closed days) an
    RFC 9162 consistency proof that the log at ``first`` is a prefix of the log at
    ``second``."""

    permission_classes = [IsTenantOrOperator]

    class FilterSerializer(serializers.Serializer):
        first = serializers.IntegerField(required=False)
        second = serializers.IntegerField(required=False)

    @extend_schema(responses=CloseLogOutput)
    def get(self, request: Request) -> Response:
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
