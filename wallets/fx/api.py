"""FX API: rates, quotes, conversions, and the operators' rate table and desk. Error
codes: docs/fx.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox import clock
from sandbox.api.views import ApiView, PresenterSerializer
from sandbox.tenants.access import actor_for
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from sandbox.tenants.models import Node
from sandbox.tenants.permissions import IsOperator
from wallets.api import IDEMPOTENCY_PARAMETER
from wallets.fx import presenters, selectors, services
from wallets.fx.models import Conversion, Quote
from wallets.idempotency import idempotent
from wallets.selectors import account_get

# --- Documented shapes: exactly what the presenters return -----------------------------------


class QuoteOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Quote) -> dict[str, Any]:
        return presenters.quote_json(instance)

    id = serializers.UUIDField()
    node_id = serializers.UUIDField()
    pair = serializers.CharField(help_text='The rate table\'s pair, e.g. "USD/KRW".')
    source_currency = serializers.CharField()
    target_currency = serializers.CharField()
    fixed_side = serializers.ChoiceField(choices=Quote.Side.choices)
    sell_amount = serializers.IntegerField(help_text="Minor units of the source currency.")
    buy_amount = serializers.IntegerField(help_text="Minor units of the target currency.")
    fee = serializers.IntegerField(help_text="Minor units of the source currency.")
    fee_bps = serializers.IntegerField()
    spread_amount = serializers.IntegerField(help_text="Minor units of the target currency.")
    spread_bps = serializers.IntegerField()
    rate = serializers.CharField(help_text="Target per source (major units), yours.")
    reference_rate = serializers.CharField(help_text="Target per source (major units), the mid.")
    lock_seconds = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["open", "used", "expired"])
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="On the node's clock.")
    used_at = serializers.DateTimeField(allow_null=True)


class ConversionOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Conversion) -> dict[str, Any]:
        return presenters.conversion_json(instance)

    id = serializers.UUIDField()
    node_id = serializers.UUIDField()
    quote = QuoteOutput()
    source_account_id = serializers.UUIDField()
    target_account_id = serializers.UUIDField()
    transaction_id = serializers.UUIDField(help_text="The one ledger transaction.")
    description = serializers.CharField()
    metadata = serializers.JSONField()
    created_at = serializers.DateTimeField()


class PairOutput(serializers.Serializer):
    code = serializers.CharField()
    base = serializers.CharField()
    quote = serializers.CharField()
    mid = serializers.CharField(help_text="Quote currency per one base currency, now.")
    anchor_mid = serializers.CharField(help_text="The mid the walk starts from.")
    anchored_at = serializers.DateTimeField()
    seed = serializers.IntegerField()
    volatility_bps = serializers.IntegerField()
    spread_bps = serializers.IntegerField()
    fee_bps = serializers.IntegerField()
    enabled = serializers.BooleanField()


class RatesOutput(serializers.Serializer):
    at = serializers.DateTimeField(help_text="The clock's time the rates are for.")
    pairs = PairOutput(many=True)


class RatePointOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    mid = serializers.CharField()


class RateHistoryOutput(serializers.Serializer):
    pair = serializers.CharField()
    points = RatePointOutput(many=True)


class DeskPositionOutput(serializers.Serializer):
    currency = serializers.CharField()
    position = serializers.IntegerField(help_text="The liquidity account, minor units.")
    revenue = serializers.IntegerField(help_text="Fees and spreads collected, minor units.")
    krw_rate = serializers.CharField(help_text="KRW per one unit, at the mid now.")
    position_krw = serializers.CharField()
    revenue_krw = serializers.CharField()


class DeskOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    node_id = serializers.UUIDField(
        allow_null=True, help_text="The desk's node, once made (on first use)."
    )
    positions = DeskPositionOutput(many=True)
    position_krw = serializers.CharField(help_text="All positions valued in KRW.")
    revenue_krw = serializers.CharField(help_text="All revenue valued in KRW.")


def _query(declared: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    known = declared().fields
    serializer = declared(data={k: v for k, v in request.query_params.items() if k in known})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Rates -----------------------------------------------------------------------------------


def rates_json(at: Any) -> dict[str, Any]:
    return {
        "at": at,
        "pairs": [
            presenters.pair_data(pair, mid_now=selectors.pair_mid(pair, at))
            for pair in selectors.pairs()
        ],
    }


class RatesApi(TenantScopedView):
    class FilterSerializer(serializers.Serializer):
        node_id = serializers.CharField(
            required=False, help_text="Rates at this node's clock (default: the platform's)."
        )

    @extend_schema(responses=RatesOutput)
    def get(self, request: Request) -> Response:
        """The rate table: each pair's reference mid rate now, its spread and fee."""
        node_id = _query(self.FilterSerializer, request).get("node_id")
        node = Node.objects.get_for_tenant(self.tenant, node_id) if node_id else None
        at = clock.now(node_id=node.pk if node else None)
        return Response(RatesOutput(rates_json(at)).data)


class RateHistoryApi(TenantScopedView):
    class FilterSerializer(serializers.Serializer):
        pair = serializers.CharField(help_text='"USD/KRW" or "USD-KRW".')
        hours = serializers.IntegerField(required=False, default=24, min_value=1, max_value=720)
        points = serializers.IntegerField(required=False, default=97, min_value=2, max_value=500)
        node_id = serializers.CharField(
            required=False, help_text="Up to this node's clock (default: the platform's)."
        )

    @extend_schema(responses=RateHistoryOutput)
    def get(self, request: Request) -> Response:
        """A pair's mid rate over the last ``hours``, at ``points`` even steps: the same
        every time it is asked (the walk is seeded)."""
        values = _query(self.FilterSerializer, request)
        pair = selectors.pair_get(values["pair"])
        node_id = values.get("node_id")
        node = Node.objects.get_for_tenant(self.tenant, node_id) if node_id else None
        end = clock.now(node_id=node.pk if node else None)
        series = selectors.pair_series(
            pair, start=end - timedelta(hours=values["hours"]), end=end, points=values["points"]
        )
        data = {"pair": pair.code, "points": [{"at": at, "mid": str(mid)} for at, mid in series]}
        return Response(RateHistoryOutput(data).data)


# --- Quotes ----------------------------------------------------------------------------------


class QuoteListApi(TenantScopedListView):
    """Your nodes' quotes, newest first."""

    serializer_class = QuoteOutput

    class InputSerializer(serializers.Serializer):
        node_id = serializers.CharField(help_text="The node that will convert.")
        source_currency = serializers.CharField(help_text="The currency sold.")
        target_currency = serializers.CharField(help_text="The currency bought.")
        sell_amount = serializers.IntegerField(
            required=False, help_text="Minor units of the source currency (or buy_amount)."
        )
        buy_amount = serializers.IntegerField(
            required=False, help_text="Minor units of the target currency (or sell_amount)."
        )
        lock_seconds = serializers.IntegerField(
            required=False,
            help_text=f"One of {', '.join(map(str, services.LOCK_DURATIONS))} "
            f"(default {services.DEFAULT_LOCK_SECONDS}), on the node's clock.",
        )

    def get_queryset(self) -> QuerySet[Quote]:
        return selectors.quotes_for(self.tenant)

    @extend_schema(responses={201: QuoteOutput})
    def post(self, request: Request) -> Response:
        """Lock a price: sell a source amount or buy a target amount (exactly one, minor
        units). 400 ``unknown_pair``, ``same_currency``, ``one_amount_required``,
        ``invalid_lock_duration``; 422 ``amount_below_minimum``, ``amount_above_limit``."""
        values = self.validated_input()
        node = Node.objects.get_for_tenant(self.tenant, values["node_id"])
        quote = services.create_quote(
            tenant=self.tenant,
            node=node,
            source_currency=values["source_currency"],
            target_currency=values["target_currency"],
            sell_amount=values.get("sell_amount"),
            buy_amount=values.get("buy_amount"),
            lock_seconds=values.get("lock_seconds"),
        )
        return Response(presenters.quote_json(quote), status=status.HTTP_201_CREATED)


class QuoteDetailApi(TenantScopedView):
    @extend_schema(responses=QuoteOutput)
    def get(self, request: Request, quote_id: str) -> Response:
        """One quote: open, used or expired (on its node's clock)."""
        quote = Quote.objects.get_for_tenant(self.tenant, quote_id)
        return Response(presenters.quote_json(quote))


# --- Conversions -----------------------------------------------------------------------------


class ConversionListApi(TenantScopedListView):
    """Your conversions, newest first."""

    serializer_class = ConversionOutput

    class InputSerializer(serializers.Serializer):
        quote_id = serializers.CharField()
        source_account_id = serializers.CharField(
            help_text="An account of the quote's node, in the source currency."
        )
        target_account_id = serializers.CharField(help_text="In the target currency.")
        description = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=200
        )
        metadata = serializers.JSONField(required=False, default=dict)

    def get_queryset(self) -> QuerySet[Conversion]:
        return selectors.conversions_for(self.tenant)

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: ConversionOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        """Execute a quote: one ledger transaction through the FX desk. 409 ``quote_used``,
        410 ``quote_expired``, 422 ``insufficient_funds``; nothing moves when refused."""
        values = self.validated_input()
        quote = Quote.objects.get_for_tenant(self.tenant, values["quote_id"])
        conversion = services.execute_quote(
            quote,
            source_account=account_get(
                tenant=self.tenant,
                account_id=values["source_account_id"],
                field="source_account_id",
            ),
            target_account=account_get(
                tenant=self.tenant,
                account_id=values["target_account_id"],
                field="target_account_id",
            ),
            description=values["description"],
            metadata=values["metadata"],
        )
        return Response(presenters.conversion_json(conversion), status=status.HTTP_201_CREATED)


class ConversionDetailApi(TenantScopedView):
    @extend_schema(responses=ConversionOutput)
    def get(self, request: Request, conversion_id: str) -> Response:
        """One conversion, with its quote and its ledger transaction's id."""
        conversion = Conversion.objects.select_related(
            "quote", "ledger_transaction"
        ).get_for_tenant(self.tenant, conversion_id)
        return Response(presenters.conversion_json(conversion))


# --- Operators: the rate table and the desk --------------------------------------------------


PAIR_PARAMETER = OpenApiParameter(
    "pair",
    str,
    OpenApiParameter.PATH,
    pattern="^[A-Z]{3}-[A-Z]{3}$",
    description='A pair of the rate table, base-quote: "USD-KRW".',
)


def desk_json() -> dict[str, Any]:
    at = clock.now()
    positions = selectors.desk_positions(at)
    return {
        "at": at,
        "node_id": selectors.desk_node_id(),
        "positions": [presenters.position_data(p) for p in positions],
        "position_krw": str(sum(p.position_krw for p in positions)),
        "revenue_krw": str(sum(p.revenue_krw for p in positions)),
    }


class OperatorDeskApi(ApiView):
    permission_classes = [IsOperator]

    @extend_schema(responses=DeskOutput)
    def get(self, request: Request) -> Response:
        """The FX desk's position and revenue per currency, valued in KRW at the mid now
        (operators)."""
        return Response(DeskOutput(desk_json()).data)


class OperatorRatesApi(ApiView):
    permission_classes = [IsOperator]

    @extend_schema(responses=RatesOutput)
    def get(self, request: Request) -> Response:
        """The rate table at the platform clock's now (operators)."""
        return Response(RatesOutput(rates_json(clock.now())).data)


class OperatorPairApi(ApiView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        mid = serializers.CharField(required=False, help_text="A new mid: re-anchors the walk.")
        seed = serializers.IntegerField(required=False, help_text="Re-anchors the walk.")
        spread_bps = serializers.IntegerField(required=False)
        fee_bps = serializers.IntegerField(required=False)
        volatility_bps = serializers.IntegerField(required=False)
        enabled = serializers.BooleanField(required=False)

    @extend_schema(parameters=[PAIR_PARAMETER], responses=PairOutput)
    def patch(self, request: Request, pair: str) -> Response:
        """Edit a pair of the rate table (operators)."""
        values = self.validated_input(partial=True)
        updated = services.pair_update(
            pair=selectors.pair_get(pair), actor=actor_for(request), **values
        )
        at = clock.now()
        data = presenters.pair_data(updated, mid_now=selectors.pair_mid(updated, at))
        return Response(PairOutput(data).data)


class OperatorRateEventApi(ApiView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["pin", "unpin", "jump"])
        value = serializers.CharField(
            required=False,
            help_text="pin: the rate (quote per base); jump: signed basis points.",
        )

    @extend_schema(parameters=[PAIR_PARAMETER], responses={201: PairOutput})
    def post(self, request: Request, pair: str) -> Response:
        """Pin the pair's rate, unpin it, or make it jump, from the platform clock's now
        on; kept, so replays show it (operators)."""
        values = self.validated_input()
        found = selectors.pair_get(pair)
        value: Any = values.get("value")
        if values["kind"] == "jump" and value is not None:
            value = int(value) if value.lstrip("-").isdigit() else value
        services.rate_event_create(
            pair=found, actor=actor_for(request), kind=values["kind"], value=value
        )
        at = clock.now()
        data = presenters.pair_data(found, mid_now=selectors.pair_mid(found, at))
        return Response(PairOutput(data).data, status=status.HTTP_201_CREATED)
