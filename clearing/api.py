"""Clearing API: a transaction's proof, closed days and their ``.ots`` files, the anchor
chain, the close log; for operators, closing now and the job list with retries."""

from __future__ import annotations

import base64
from datetime import timedelta

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from clearing import closing, records, selectors, settlement, tasks
from clearing.clock_closing import clock_end_day
from clearing.models import AnchorThreshold, ClockClose, DayClose, Job
from sandbox.api.views import ApiView, ListApiView
from sandbox.currencies import AmountError, CurrencyCode, to_decimal_string, to_minor_units
from sandbox.errors import ApplicationError, NotFound
from sandbox.events.api import ClockDetailOutput
from sandbox.events.models import TestClock
from sandbox.tenants.access import actor_for
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from sandbox.tenants.permissions import IsActiveTenantMember, IsOperator, IsOwner


class IsTenantOrOperator(BasePermission):
    """Public clearing data (closed days, the chain): any active tenant, or an operator."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user and user.is_authenticated and getattr(user, "is_staff", False):
            return True
        return IsActiveTenantMember().has_permission(request, view)


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


class DayCloseListApi(ListApiView):
    permission_classes = [IsTenantOrOperator]
    serializer_class = DayCloseOutput
    pagination_class = None

    def get_queryset(self):
        return DayClose.objects.select_related("anchor").order_by("-day")[:400]


class DayCloseDetailApi(ApiView):
    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses=DayCloseOutput)
    def get(self, request, day):
        return Response(DayCloseOutput(selectors.closed_day_get(selectors.parse_day(day))).data)


class DayCloseOtsApi(ApiView):
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


class ChainApi(ApiView):
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


class CloseLogApi(ApiView):
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
            second = int(request.query_params.get("second", closing.close_log_tree().size))
        except ValueError:
            raise ApplicationError(
                "first and second are integers.", code="invalid_log_size"
            ) from None
        return Response(selectors.close_log_consistency(first=first, second=second))


# --- Test clock closes (a tester's own day) -------------------------------------------------------


class ClockCloseOutput(serializers.ModelSerializer):
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
    transactions = serializers.ListField(
        child=serializers.UUIDField(), help_text="The close's transactions, in leaf order."
    )

    class Meta(ClockCloseOutput.Meta):
        fields = [*ClockCloseOutput.Meta.fields, "transactions"]


class _ClockView(TenantScopedView):
    """Endpoints under one of your test clocks (another tenant's is a 404)."""

    def clock(self, clock_id) -> TestClock:
        return TestClock.objects.get_for_tenant(self.tenant, clock_id)


class ClockEndDayApi(_ClockView):
    """End the clock's day now: advance it to the next midnight (clearing time zone), which
    runs what falls due on the way, then closes and anchors the day. Answers 202 with
    status "advancing"; poll the clock until "ready", then list its closes."""

    @extend_schema(request=None, responses={202: ClockDetailOutput})
    def post(self, request, clock_id):
        clock = clock_end_day(clock=self.clock(clock_id), actor=self.actor)
        clock.refresh_from_db()
        return Response(ClockDetailOutput(clock).data, status=status.HTTP_202_ACCEPTED)


class ClockCloseListApi(TenantScopedListView):
    """The clock's closed (and pending) days, newest first."""

    serializer_class = ClockCloseOutput

    def get_queryset(self):
        clock = TestClock.objects.get_for_tenant(self.tenant, self.kwargs["clock_id"])
        return (
            ClockClose.objects.for_tenant(self.tenant).filter(clock=clock).select_related("anchor")
        )


class ClockCloseDetailApi(_ClockView):
    """One close of the clock (``day`` as YYYY-MM-DD) with its transactions, in leaf order."""

    @extend_schema(responses=ClockCloseDetailOutput)
    def get(self, request, clock_id, day):
        close = selectors.clock_close_get(
            tenant=self.tenant, clock=self.clock(clock_id), day=selectors.parse_day(day)
        )
        close.transactions = selectors.clock_close_transaction_ids(close)
        return Response(ClockCloseDetailOutput(close).data)


class ClockCloseProofApi(_ClockView):
    """The inclusion proof of one of the close's transactions, for ``verify_proof.py``:
    the same document as a day's proof, anchored in a block of kind "clock"."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, clock_id, day, transaction_id):
        return Response(
            selectors.clock_close_proof(
                tenant=self.tenant,
                clock=self.clock(clock_id),
                day=selectors.parse_day(day),
                transaction_id=transaction_id,
            )
        )


# --- Operators ---------------------------------------------------------------------------------


class JobOutput(serializers.ModelSerializer):
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "kind", "label", "status", "triggered_by", "progress_done", "progress_total",
            "count", "root", "block_height", "note", "error", "created_at", "started_at",
            "finished_at", "duration_seconds", "retry_of",
        ]  # fmt: skip

    def get_duration_seconds(self, job: Job) -> float | None:
        return job.duration.total_seconds() if job.duration is not None else None


class OperatorCloseApi(ApiView):
    """Close a day now (yesterday by default); the work runs on a worker."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        date = serializers.DateField(required=False)

    @extend_schema(request=InputSerializer, responses={202: JobOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        day = data.validated_data.get("date") or closing.today() - timedelta(days=1)
        if day >= closing.today():
            raise ApplicationError(f"{day} has not ended yet.", code="day_not_ended")
        job = tasks.enqueue_close(day=day, actor=actor_for(request))
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class OperatorVerifyApi(ApiView):
    """Check every closed day and test clock close against the chain now (as the daily
    check does at 00:30): a job, whose result shows in the jobs list."""

    permission_classes = [IsOperator]

    @extend_schema(request=None, responses={202: JobOutput})
    def post(self, request):
        job = tasks.enqueue_job(kind=Job.Kind.VERIFY, label="all days", actor=actor_for(request))
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class OperatorJobListApi(ListApiView):
    permission_classes = [IsOperator]
    serializer_class = JobOutput
    pagination_class = None

    def get_queryset(self):
        return selectors.jobs_visible(operator=True)


class JobListApi(TenantScopedView):
    """The clearing jobs your dashboard shows: the platform's closes, checks and
    settlements, and your own test clock closes (newest first, at most 200)."""

    @extend_schema(responses=JobOutput(many=True))
    def get(self, request):
        return Response(JobOutput(selectors.jobs_visible(tenant=self.tenant), many=True).data)


class OperatorJobRetryApi(ApiView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses={202: JobOutput})
    def post(self, request, job_id):
        job = Job.objects.filter(pk=job_id if str(job_id).isdigit() else None).first()
        if job is None:
            raise NotFound(f"No job with id {job_id}.", code="job_not_found")
        job = tasks.job_retry(job=job, actor=actor_for(request))
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


# --- Large inter-node transactions: encrypted, anchored records ---------------------------------


def _record_body(record, plaintext: bytes | None) -> dict:
    from clearing.encoding import decode_transaction

    body = {
        "transaction": str(record.transaction.uuid),
        "digest": record.digest,
        "envelope": base64.b64encode(bytes(record.envelope)).decode(),
        "nodes": [str(n) for n in record.nodes.values_list("id", flat=True)],
        "anchor": None,
        "record": None,
    }
    if record.anchor_id:
        body["anchor"] = {
            "height": record.anchor.height,
            "block_hash": record.anchor.block_hash,
            "txid": record.anchor.txid,
            "label": record.anchor.label,
        }
    if plaintext is not None:
        decoded = decode_transaction(plaintext)
        body["record"] = {
            "leaf": plaintext.hex(),
            "id": decoded.id,
            "kind": decoded.kind,
            "currency": decoded.currency,
            "amount": decoded.amount,
            "posted_at": decoded.posted_at,
            "entries": [
                {"account": str(e.account), "currency": e.currency, "amount": e.amount}
                for e in decoded.entries
            ],
        }
    return body


class TransactionRecordApi(TenantScopedView):
    """The encrypted, anchored record of a large inter-node transaction, opened with the key
    of your node it touches (either side may read it, nobody else)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, transaction_id):
        from clearing.models import AnchoredRecord

        record = (
            AnchoredRecord.objects.select_related("transaction", "anchor")
            .filter(transaction__uuid=_uuid_or_none(transaction_id))
            .first()
        )
        node = record.nodes.filter(tenant=self.tenant).order_by("id").first() if record else None
        if node is None:
            raise NotFound(
                f"No anchored record of a transaction {transaction_id} of yours.",
                code="record_not_found",
            )
        return Response(_record_body(record, records.open_for_node(record, node)))


class NodeRecordKeyApi(TenantScopedView):
    """Your node's record key (base64, AES-256), to open envelopes offline. Owners only."""

    permission_classes = [IsOwner]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, node_id):
        from sandbox.tenants.models import Node

        node = Node.objects.get_for_tenant(self.tenant, node_id)
        key = records.node_key(node)
        return Response({"node": str(node.pk), "key": base64.b64encode(key).decode()})


class OperatorRecordApi(ApiView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, transaction_id):
        from clearing.models import AnchoredRecord

        record = (
            AnchoredRecord.objects.select_related("transaction", "anchor")
            .filter(transaction__uuid=_uuid_or_none(transaction_id))
            .first()
        )
        if record is None:
            raise NotFound(f"No anchored record of {transaction_id}.", code="record_not_found")
        return Response(_record_body(record, records.open_for_operators(record)))


class ThresholdOutput(serializers.Serializer):
    currency = serializers.CharField()
    min_amount = serializers.CharField(help_text='Decimal string, e.g. "1000000".')


class OperatorThresholdApi(ApiView):
    """Thresholds per currency for anchoring inter-node transactions at once."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        currency = serializers.ChoiceField(choices=CurrencyCode.choices)
        min_amount = serializers.CharField(allow_null=True, help_text="null removes it")

    def _list(self):
        return [
            {"currency": t.currency, "min_amount": to_decimal_string(t.min_amount, t.currency)}
            for t in AnchorThreshold.objects.order_by("currency")
        ]

    @extend_schema(responses=ThresholdOutput(many=True))
    def get(self, request):
        return Response(self._list())

    @extend_schema(request=InputSerializer, responses=ThresholdOutput(many=True))
    def put(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        currency, amount = data.validated_data["currency"], data.validated_data["min_amount"]
        minor = None
        if amount is not None:
            try:
                minor = to_minor_units(amount, currency)
            except AmountError as exc:
                raise ApplicationError(exc.message, code=exc.code) from None
        records.threshold_set(currency=currency, min_amount=minor, actor=actor_for(request))
        return Response(self._list())


def _uuid_or_none(value):
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- Settlement ----------------------------------------------------------------------------------


def _window_body(window, *, tenant=None) -> dict:
    """A window with its positions and instructions; a tenant sees its own nodes' rows."""
    from clearing import settlement
    from clearing.models import SettlementInstruction, SettlementPosition

    positions = SettlementPosition.objects.filter(window=window).select_related("node")
    instructions = SettlementInstruction.objects.filter(window=window).select_related(
        "node", "transaction"
    )
    if tenant is not None:
        positions = positions.filter(node__tenant=tenant)
        instructions = instructions.filter(node__tenant=tenant)
    body = {
        "id": window.pk,
        "cycle": window.cycle,
        "start_day": window.start_day,
        "end_day": window.end_day,
        "settle_on": window.settle_on,
        "status": window.status,
        "transactions": window.transactions,
        "settled_at": window.settled_at,
        "note": window.note,
        "positions": [
            {
                "node": str(p.node_id),
                "node_name": p.node.name,
                "currency": p.currency,
                "gross_paid": to_decimal_string(p.gross_paid, p.currency),
                "gross_received": to_decimal_string(p.gross_received, p.currency),
                "net": to_decimal_string(p.net, p.currency),
            }
            for p in positions.order_by("node_id", "currency")
        ],
        "instructions": [
            {
                "node": str(i.node_id),
                "node_name": i.node.name,
                "direction": i.direction,
                "counterparty": "clearing hub",
                "amount": to_decimal_string(i.amount, i.currency),
                "currency": i.currency,
                "bank_code": i.bank_code,
                "transaction": str(i.transaction.uuid),
            }
            for i in instructions.order_by("node_id", "currency")
        ],
    }
    if window.status == window.Status.SETTLED:
        result = settlement.compute_window(window)
        mine = (
            None if tenant is None else {str(n) for n in tenant.nodes.values_list("id", flat=True)}
        )
        body["bilateral"] = [
            {"debtor": a, "creditor": b, "currency": c, "amount": to_decimal_string(v, c)}
            for (a, b, c), v in sorted(result.positions.bilateral.items())
            if mine is None or a in mine or b in mine
        ]
    return body


def _window_get(window_id):
    from clearing.models import SettlementWindow

    window = SettlementWindow.objects.filter(
        pk=window_id if str(window_id).isdigit() else None
    ).first()
    if window is None:
        raise NotFound(f"No settlement window {window_id}.", code="window_not_found")
    return window


def _tenant_or_none(request):
    return None if request.user.is_staff else request.tenant_access.tenant


class SettlementWindowListApi(ApiView):
    permission_classes = [IsTenantOrOperator]

    @extend_schema(
        operation_id="v1_clearing_settlements_list", responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        from clearing.models import SettlementWindow

        fields = ["id", "cycle", "start_day", "end_day", "settle_on", "status", "transactions"]
        windows = SettlementWindow.objects.order_by("-end_day", "cycle")[:200]
        return Response(list(windows.values(*fields)))


class ContractListApi(ApiView):
    """Settlement contracts: each of your nodes' cycle and net debit caps (operators: every
    node's). Operators change them with PUT /operator/clearing/contracts/<node>."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(selectors.contracts_visible(tenant=_tenant_or_none(request)))


class SettlementWindowApi(ApiView):
    """A window's gross, bilateral and multilateral positions and its instructions."""

    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, window_id):
        return Response(_window_body(_window_get(window_id), tenant=_tenant_or_none(request)))


CSV_COLUMNS = [
    "section", "node", "node_name", "currency", "gross_paid", "gross_received", "net",
    "direction", "amount", "bank_code", "transaction",
]  # fmt: skip


class SettlementReportCsvApi(ApiView):
    permission_classes = [IsTenantOrOperator]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, window_id):
        import csv
        import io

        window = _window_get(window_id)
        body = _window_body(window, tenant=_tenant_or_none(request))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for p in body["positions"]:
            writer.writerow({"section": "position", **p})
        for i in body["instructions"]:
            writer.writerow({"section": "instruction", **{k: i[k] for k in CSV_COLUMNS if k in i}})
        for b in body.get("bilateral", []):
            writer.writerow(
                {
                    "section": "bilateral",
                    "node": b["debtor"],
                    "currency": b["currency"],
                    "direction": f"owes {b['creditor']}",
                    "amount": b["amount"],
                }
            )
        response = HttpResponse(out.getvalue(), content_type="text/csv")
        name = f"settlement-{window.cycle}-{window.start_day}-{window.end_day}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class OperatorSettleApi(ApiView):
    """Settle every window whose settlement day has come, now."""

    permission_classes = [IsOperator]

    @extend_schema(request=None, responses={202: JobOutput})
    def post(self, request):
        job = tasks.enqueue_job(
            kind=Job.Kind.SETTLEMENT, label="due windows", actor=actor_for(request)
        )
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class OperatorWindowAbortApi(ApiView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=300)

    @extend_schema(request=InputSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, window_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        window = settlement.window_abort(
            window=_window_get(window_id),
            reason=data.validated_data["reason"],
            actor=actor_for(request),
        )
        return Response(_window_body(window))


class OperatorContractApi(ApiView):
    """A node's settlement contract: its cycle and net debit caps (decimal strings)."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        cycle = serializers.ChoiceField(choices=["daily", "t_plus_1", "weekly"])
        net_debit_caps = serializers.DictField(child=serializers.CharField(), required=False)

    def _node(self, node_id):
        from sandbox.tenants.models import Node

        node = Node.objects.filter(pk=_uuid_or_none(node_id)).first()
        if node is None:
            raise NotFound(f"No node with id {node_id}.", code="node_not_found")
        return node

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, node_id):
        return Response(selectors.contract_of(self._node(node_id)))

    @extend_schema(request=InputSerializer, responses={200: OpenApiTypes.OBJECT})
    def put(self, request, node_id):

        node = self._node(node_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        caps = settlement.parse_caps(data.validated_data.get("net_debit_caps", {}))
        settlement.contract_set(
            node=node,
            cycle=data.validated_data["cycle"],
            caps=caps if "net_debit_caps" in data.validated_data else None,
            actor=actor_for(request),
        )
        return Response(selectors.contract_of(node))
