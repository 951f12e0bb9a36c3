"""Large inter-node transactions: their encrypted, anchored records, the nodes' record keys,
and the operators' anchoring thresholds."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from clearing import records, selectors
from sandbox.api.views import ApiView
from sandbox.currencies import AmountError, CurrencyCode, to_minor_units
from sandbox.errors import ApplicationError
from sandbox.tenants.access import actor_for
from sandbox.tenants.api import TenantScopedView
from sandbox.tenants.permissions import IsOperator, IsOwner
from wallets.inputs import AmountField


class RecordAnchorOutput(serializers.Serializer):
    # The stubs see ``label`` override ``Field.label``; DRF's metaclass moves declared
    # fields off the class, so nothing is overridden at run time.

    height = serializers.IntegerField()
    block_hash = serializers.CharField()
    txid = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class RecordEntryOutput(serializers.Serializer):
    account = serializers.UUIDField()
    currency = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units; negative on the paying side.")


class RecordPlaintextOutput(serializers.Serializer):
    leaf = serializers.CharField(help_text="The transaction's canonical leaf bytes (hex).")
    id = serializers.IntegerField()
    kind = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units.")
    posted_at = serializers.DateTimeField()
    entries = RecordEntryOutput(many=True)


class RecordOutput(serializers.Serializer):
    transaction = serializers.UUIDField()
    digest = serializers.CharField(help_text="SHA-256 of the envelope (hex): what is anchored.")
    envelope = serializers.CharField(help_text="The FSBXREC1 envelope (base64).")
    nodes = serializers.ListField(child=serializers.UUIDField(), help_text="Its readers' nodes.")
    anchor = RecordAnchorOutput(allow_null=True, help_text="Its block; null until anchored.")
    record = RecordPlaintextOutput(allow_null=True, help_text="The envelope, opened.")


class RecordKeyOutput(serializers.Serializer):
    node = serializers.UUIDField()
    key = serializers.CharField(help_text="AES-256 key (base64).")


class TransactionRecordApi(TenantScopedView):
    """The encrypted, anchored record of a large inter-node transaction, opened with the key
    of your node it touches (either side may read it, nobody else)."""

    @extend_schema(responses=RecordOutput)
    def get(self, request: Request, transaction_id: str) -> Response:
        return Response(
            selectors.transaction_record(tenant=self.tenant, transaction_id=transaction_id)
        )


class NodeRecordKeyApi(TenantScopedView):
    """Your node's record key (base64, AES-256), to open envelopes offline. Owners only."""

    permission_classes = [IsOwner]

    @extend_schema(responses=RecordKeyOutput)
    def get(self, request: Request, node_id: str) -> Response:
        return Response(selectors.node_record_key(tenant=self.tenant, node_id=node_id))


class OperatorRecordApi(ApiView):
    """The encrypted, anchored record of any large inter-node transaction, opened with the
    operators' key."""

    permission_classes = [IsOperator]

    @extend_schema(responses=RecordOutput)
    def get(self, request: Request, transaction_id: str) -> Response:
        return Response(selectors.operator_record(transaction_id=transaction_id))


class ThresholdOutput(serializers.Serializer):
    currency = serializers.CharField()
    min_amount = serializers.CharField(help_text='Decimal string, e.g. "1000000".')


class OperatorThresholdApi(ApiView):
    """Thresholds per currency for anchoring inter-node transactions at once."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        currency = serializers.ChoiceField(choices=CurrencyCode.choices)
        min_amount = AmountField(allow_null=True, help_text="A decimal string; null removes it.")

    @extend_schema(responses=ThresholdOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(selectors.thresholds())

    @extend_schema(responses=ThresholdOutput(many=True))
    def put(self, request: Request) -> Response:
        values = self.validated_input()
        currency, amount = values["currency"], values["min_amount"]
        minor = None
        if amount is not None:
            try:
                minor = to_minor_units(amount, currency)
            except AmountError as exc:
                raise ApplicationError(exc.message, code=exc.code) from None
        records.threshold_set(currency=currency, min_amount=minor, actor=actor_for(request))
        return Response(selectors.thresholds())
