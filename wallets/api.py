"""Wallet API: wallets, virtual accounts, balances, transfers (single and bulk), holds,
reversals and the transaction history. Every money-moving POST needs an
``Idempotency-Key`` (``wallets.idempotency``).

Views follow ``sandbox.api.views``: inputs are declared in ``wallets.inputs`` (or nested
here) and checked by its parsers, a service does the work, ``wallets.presenters`` builds
the answer. The output serializers below document the presenters' shapes for OpenAPI; the
paginated lists render through them, and they through the presenters.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.pagination import OldestFirstCursorPagination
from sandbox.api.views import PresenterSerializer
from sandbox.errors import ApplicationError
from sandbox.gcpause import pausing_collection
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from wallets import exports, inputs, presenters, selectors, services
from wallets.banks import BANKS, DEFAULT_BANK_CODE
from wallets.idempotency import HEADER as IDEMPOTENCY_HEADER
from wallets.idempotency import idempotent
from wallets.locking import Statement
from wallets.models import Account, Hold, LedgerTransaction
from wallets.posting import Result, check_reads

CURRENCY_HELP = inputs.CURRENCY_HELP

# --- Documented shapes -----------------------------------------------------------------------


class MoneySerializer(serializers.Serializer):
    amount = serializers.CharField(help_text='A decimal string, e.g. "12.34"; never a number.')
    currency = serializers.CharField(help_text=CURRENCY_HELP)


class BalancesSerializer(serializers.Serializer):
    posted = serializers.CharField()
    pending = serializers.CharField(help_text="Incoming, not yet posted.")
    held = serializers.CharField(help_text="Reserved by outgoing holds.")
    available = serializers.CharField(help_text="posted - held")


class AccountOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Account) -> dict[str, Any]:
        return presenters.account_data(instance)

    id = serializers.UUIDField()
    wallet_id = serializers.UUIDField()
    node_id = serializers.UUIDField()
    name = serializers.CharField()
    currency = serializers.CharField(help_text=CURRENCY_HELP)
    customer_reference = serializers.CharField()
    bank_code = serializers.CharField()
    bank_name = serializers.CharField()
    account_number = serializers.CharField(help_text="Virtual account number; deposits go here.")
    status = serializers.CharField(help_text="open or closed")
    balances = BalancesSerializer()
    lock_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class CurrencyBalanceOutput(BalancesSerializer):
    currency = serializers.CharField(help_text=CURRENCY_HELP)
    account_count = serializers.IntegerField()


class EntryOutput(serializers.Serializer):
    account_id = serializers.UUIDField()
    direction = serializers.ChoiceField(choices=["credit", "debit"])
    amount = serializers.CharField(help_text="Signed: credits positive, debits negative.")
    currency = serializers.CharField()


class TransactionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    amount = MoneySerializer()
    memo = serializers.CharField()
    metadata = serializers.JSONField()
    is_inter_node = serializers.BooleanField()
    reverses = serializers.UUIDField(allow_null=True)
    posted_at = serializers.DateTimeField()
    entries = EntryOutput(many=True)


class TransactionDetailOutput(TransactionOutput):
    reversed_by = serializers.UUIDField(allow_null=True)


class HoldOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Hold) -> dict[str, Any]:
        return presenters.hold_data(instance)

    id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    counterparty_account_id = serializers.UUIDField()
    direction = serializers.CharField(help_text="debit (outgoing) or credit (incoming)")
    amount = MoneySerializer()
    captured_amount = MoneySerializer()
    status = serializers.CharField(help_text="pending, captured, voided or expired")
    memo = serializers.CharField()
    metadata = serializers.JSONField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    capture_transaction_id = serializers.UUIDField(allow_null=True)


# Inline: a serializer class cannot have a field named ``fields``.
ERROR_DETAIL: dict[str, serializers.Field] = {
    "code": serializers.CharField(),
    "message": serializers.CharField(),
    "fields": serializers.JSONField(),
}


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per operation; a retry with the same key and body gets the first "
    "answer, the same key with another body gets 409 idempotency_key_reused.",
)


def _transaction_body(result: Result) -> dict:
    return presenters.result_data(result)  # as its events had it: built once


# --- Wallets, accounts, balances ---------------------------------------------------------------


class WalletApi(TenantScopedView):
    @extend_schema(
        responses=inline_serializer(
            "Wallet",
            {
                "id": serializers.UUIDField(),
                "node_id": serializers.UUIDField(),
                "created_at": serializers.DateTimeField(),
                "balances": CurrencyBalanceOutput(many=True),
                "accounts": AccountOutput(many=True),
            },
        )
    )
    def get(self, request: Request, node_id: str) -> Response:
        """A node's wallet: balances per currency and every virtual account."""
        wallet = selectors.wallet_get_for_node(tenant=self.tenant, node_id=node_id)
        accounts = wallet.accounts.select_related("wallet").order_by("currency", "created_at")
        return Response(
            {
                "id": str(wallet.pk),
                "node_id": str(wallet.node_id),
                "created_at": presenters.iso(wallet.created_at),
                "balances": [
                    presenters.currency_balance_data(b)
                    for b in selectors.balances_by_currency(wallet.accounts.all())
                ],
                "accounts": [presenters.account_data(a) for a in accounts],
            }
        )


class BalancesApi(TenantScopedView):
    class FilterSerializer(serializers.Serializer):
        node = serializers.UUIDField(required=False)

    @extend_schema(responses=CurrencyBalanceOutput(many=True))
    def get(self, request: Request) -> Response:
        """The tenant's balances per currency, over all nodes or one."""
        accounts = selectors.account_list(
            tenant=self.tenant, node_id=request.query_params.get("node")
        )
        return Response(
            [presenters.currency_balance_data(b) for b in selectors.balances_by_currency(accounts)]
        )


class AccountListApi(TenantScopedListView):
    serializer_class = AccountOutput
    pagination_class = OldestFirstCursorPagination

    class InputSerializer(serializers.Serializer):
        node_id = serializers.UUIDField()
        currency = serializers.CharField(max_length=8)
        name = serializers.CharField(max_length=120)
        customer_reference = serializers.CharField(
            max_length=120, required=False, allow_blank=True, default=""
        )
        bank_code = serializers.ChoiceField(
            choices=sorted(BANKS.items()), required=False, default=DEFAULT_BANK_CODE
        )

    class FilterSerializer(serializers.Serializer):
        node = serializers.UUIDField(required=False)
        currency = serializers.CharField(required=False)
        status = serializers.ChoiceField(choices=["open", "closed"], required=False)

    @extend_schema(operation_id="accounts_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The tenant's virtual accounts, oldest first, a page at a time (follow ``next``)."""
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Account]:
        params = self.request.query_params
        return selectors.account_list(
            tenant=self.tenant,
            node_id=params.get("node"),
            currency=params.get("currency"),
            status=params.get("status"),
        )

    @extend_schema(responses={201: AccountOutput})
    def post(self, request: Request) -> Response:
        """Open a virtual account with its own bank account number."""
        fields = self.validated_input()
        wallet = selectors.wallet_get_for_node(tenant=self.tenant, node_id=fields.pop("node_id"))
        account = services.account_create(wallet=wallet, actor=self.actor, **fields)
        return Response(presenters.account_data(account), status=status.HTTP_201_CREATED)


class AccountDetailApi(TenantScopedView):
    @extend_schema(responses=AccountOutput)
    def get(self, request: Request, account_id: str) -> Response:
        """One virtual account, with its balances."""
        account = selectors.account_get(tenant=self.tenant, account_id=account_id)
        return Response(presenters.account_data(account))


class AccountBalanceApi(TenantScopedView):
    @extend_schema(
        responses=inline_serializer(
            "AccountBalance",
            {
                "account_id": serializers.UUIDField(),
                "currency": serializers.CharField(),
                "balances": BalancesSerializer(),
                "lock_version": serializers.IntegerField(),
            },
        )
    )
    def get(self, request: Request, account_id: str) -> Response:
        """An account's balances and lock_version."""
        account = selectors.account_get(tenant=self.tenant, account_id=account_id)
        data = presenters.account_data(account)
        return Response(
            {
                "account_id": data["id"],
                "currency": data["currency"],
                "balances": data["balances"],
                "lock_version": data["lock_version"],
            }
        )


class AccountCloseApi(TenantScopedView):
    @extend_schema(responses=AccountOutput)
    def post(self, request: Request, account_id: str) -> Response:
        """Close an empty account (no balance, no open hold)."""
        account = selectors.account_get(tenant=self.tenant, account_id=account_id)
        account = services.account_close(account=account, actor=self.actor)
        return Response(presenters.account_data(account))


# --- Transfers ---------------------------------------------------------------------------------


class TransferApi(TenantScopedView):
    InputSerializer = inputs.TransferInput
    _accounts: dict[str, Account] | None = None  # read with the idempotency claim

    def claim_along(self, request: Request) -> list[Statement]:
        """The transfer's accounts, and what the posting checks will read about them (the
        net debit caps of their nodes), read in the round trip of the idempotency claim."""
        ids = set(inputs.transfer_account_ids(request.data))
        found: dict[str, Account] = {}
        statement = inputs.accounts_statement(tenant=self.tenant, ids=ids, into=found)
        if statement is None:
            return []
        self._accounts = found
        return [statement, *check_reads(statement.params["ids"])]

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: TransactionOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        """Move money between two of your accounts (of one node, or of two: inter-node)."""
        data = inputs.require_object(request.data)
        accounts = self._accounts
        if accounts is None:
            ids = set(inputs.transfer_account_ids(data))
            accounts = inputs.accounts_by_id(tenant=self.tenant, ids=ids)
        transfer = inputs.parse_transfer(data, accounts)
        result = services.transfer_create(tenant=self.tenant, request=transfer)
        return Response(_transaction_body(result), status=status.HTTP_201_CREATED)


class BulkTransferItem(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.CharField(help_text="posted or failed")
    transaction_id = serializers.UUIDField(required=False, help_text="When posted.")
    error = inline_serializer("ErrorDetail", ERROR_DETAIL, required=False, help_text="When failed.")


class BulkTransferResult(serializers.Serializer):
    mode = serializers.CharField()
    posted = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkTransferItem(many=True)


class TransferBulkApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(choices=["atomic", "independent"], default="atomic")
        transfers = inputs.TransferInput(many=True, help_text="1 to 8,000 transfers.")

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: BulkTransferResult, 200: BulkTransferResult},
    )
    @pausing_collection  # 8,000 items: sandbox.gcpause
    @idempotent
    def post(self, request: Request) -> Response:
        """Post up to 8,000 transfers in one request: ``atomic`` (all or none; the first
        refusal answers for the batch, with every failing item in ``fields.items``) or
        ``independent`` (each item on its own, one result per item)."""
        data = inputs.require_object(request.data)
        mode = data.get("mode", "atomic")
        if mode not in ("atomic", "independent"):
            raise inputs.invalid("mode", "Use 'atomic' or 'independent'.")
        items = data.get("transfers")
        if not isinstance(items, list):
            raise inputs.invalid("transfers", "A list of transfers.", code="required")
        if len(items) > services.MAX_BULK_TRANSFERS:
            raise ApplicationError(
                f"At most {services.MAX_BULK_TRANSFERS} transfers per request.",
                code="too_many_items",
            )
        ids = {i for item in items for i in inputs.transfer_account_ids(item)}
        accounts = inputs.accounts_by_id(tenant=self.tenant, ids=ids)
        requests: list = []
        for item in items:
            try:
                requests.append(inputs.parse_transfer(item, accounts))
            except ApplicationError as error:
                requests.append(error)
        results = services.transfer_bulk_create(tenant=self.tenant, requests=requests, mode=mode)
        body = []
        posted = 0
        for index, result in enumerate(results):
            if result.error is None:
                posted += 1
                row = result.row  # ``result.transaction_uuid``, read directly: 8,000 of them
                assert row is not None
                body.append({"index": index, "status": "posted", "transaction_id": str(row.uuid)})
            else:
                body.append(
                    {
                        "index": index,
                        "status": "failed",
                        "error": presenters.error_data(result.error),
                    }
                )
        answer = {"mode": mode, "posted": posted, "failed": len(results) - posted, "results": body}
        return Response(answer, status=status.HTTP_201_CREATED if posted else status.HTTP_200_OK)


# --- Holds -------------------------------------------------------------------------------------


class HoldListApi(TenantScopedListView):
    serializer_class = HoldOutput

    class InputSerializer(serializers.Serializer):
        account_id = serializers.UUIDField()
        counterparty_account_id = serializers.UUIDField(help_text="Who a capture pays.")
        amount = inputs.AmountField()
        currency = serializers.CharField(help_text=CURRENCY_HELP)
        expires_at = serializers.DateTimeField(required=False, help_text="Default: in 7 days.")
        memo = serializers.CharField(required=False, max_length=500)
        metadata = serializers.JSONField(required=False)

    class FilterSerializer(serializers.Serializer):
        account = serializers.UUIDField(required=False)
        status = serializers.ChoiceField(choices=Hold.Status.values, required=False)

    @extend_schema(operation_id="holds_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The holds, newest first, a page at a time (follow ``next``)."""
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Hold]:
        params = self.request.query_params
        holds = Hold.objects.for_tenant(self.tenant).select_related("capture_transaction")
        if account_id := params.get("account"):
            account = selectors.account_get(
                tenant=self.tenant, account_id=account_id, field="account"
            )
            holds = holds.filter(account=account)
        if hold_status := params.get("status"):
            holds = holds.filter(status=hold_status)
        return holds

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: HoldOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        """Reserve money on an account until it is captured, voided or expires."""
        data = inputs.require_object(request.data)
        currency = inputs.parse_currency(data.get("currency"))
        amount = inputs.parse_amount(data.get("amount"), currency)
        ids = {str(data[f]) for f in ("account_id", "counterparty_account_id") if data.get(f)}
        accounts = selectors.accounts_by_id(tenant=self.tenant, ids=ids)
        hold = services.hold_place(
            tenant=self.tenant,
            account=inputs.lookup_account(accounts, data.get("account_id"), "account_id"),
            counterparty=inputs.lookup_account(
                accounts, data.get("counterparty_account_id"), "counterparty_account_id"
            ),
            amount=amount,
            currency=currency,
            expires_at=inputs.parse_datetime_field(data, "expires_at"),
            memo=inputs.parse_string(data, "memo", max_length=500),
            metadata=inputs.parse_metadata(data),
        )
        return Response(presenters.hold_data(hold), status=status.HTTP_201_CREATED)


class HoldDetailApi(TenantScopedView):
    @extend_schema(responses=HoldOutput)
    def get(self, request: Request, hold_id: str) -> Response:
        """One hold."""
        return Response(
            presenters.hold_data(selectors.hold_get(tenant=self.tenant, hold_id=hold_id))
        )


class HoldCaptureApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        amount = inputs.AmountField(
            required=False,
            help_text="In the hold's currency, a decimal string; default: the whole hold.",
        )
        memo = serializers.CharField(required=False, max_length=500)

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses=HoldOutput)
    @idempotent
    def post(self, request: Request, hold_id: str) -> Response:
        """Settle a hold, fully or partly; what is not captured is released."""
        hold = selectors.hold_get(tenant=self.tenant, hold_id=hold_id)
        data = inputs.require_object(request.data or {})
        amount = None
        if data.get("amount") is not None:
            amount = inputs.parse_amount(data["amount"], hold.currency)
        hold = services.hold_capture(
            hold=hold, amount=amount, memo=inputs.parse_string(data, "memo", max_length=500)
        )
        return Response(presenters.hold_data(hold))


class HoldVoidApi(TenantScopedView):
    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses=HoldOutput)
    @idempotent
    def post(self, request: Request, hold_id: str) -> Response:
        """Release a hold without moving money."""
        hold = selectors.hold_get(tenant=self.tenant, hold_id=hold_id)
        return Response(presenters.hold_data(services.hold_void(hold=hold)))


# --- History and reversals ---------------------------------------------------------------------


class HistoryFilter(serializers.Serializer):
    account = serializers.UUIDField(required=False, help_text="Only this account.")
    counterparty = serializers.CharField(
        required=False, help_text="Only transactions with this account (id or account number)."
    )
    kind = serializers.CharField(required=False)
    currency = serializers.CharField(required=False)
    # "from" is a Python keyword: declared below, after the class.
    to = serializers.CharField(required=False, help_text="A date includes the day.")
    min_amount = inputs.AmountField(required=False)
    max_amount = inputs.AmountField(required=False)


HistoryFilter._declared_fields["from"] = serializers.CharField(
    required=False, help_text="Date or date-time."
)


class HistoryPageFilter(HistoryFilter):
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200)


class TransactionListApi(TenantScopedView):
    FilterSerializer = HistoryPageFilter

    @extend_schema(
        operation_id="transactions_list",
        responses=inline_serializer(
            "TransactionPage",
            {
                "results": TransactionOutput(many=True),
                "next": serializers.URLField(allow_null=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        """The history, newest first, with keyset pagination (follow ``next``)."""
        params = request.query_params
        filters = selectors.history_filters(tenant=self.tenant, params=params)
        limit = _limit(params.get("limit"))
        rows, cursor = selectors.history_values_page(
            tenant=self.tenant, filters=filters, cursor=params.get("cursor"), limit=limit
        )
        next_url = None
        if cursor:
            query = params.copy()
            query["cursor"] = cursor
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "results": [presenters.history_values_data(row) for row in rows],
                "next": next_url,
            }
        )


def _limit(value: str | None) -> int:
    if not value:
        return 50
    if not value.isdigit() or not 1 <= int(value) <= 200:
        raise inputs.invalid("limit", "An integer from 1 to 200.")
    return int(value)


class TransactionExportApi(TenantScopedView):
    FilterSerializer = HistoryFilter

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> StreamingHttpResponse:
        """The history as CSV, one row per entry, streamed (any length)."""
        filters = selectors.history_filters(tenant=self.tenant, params=request.query_params)
        return exports.csv_response(tenant=self.tenant, filters=filters)


class TransactionDetailApi(TenantScopedView):
    @extend_schema(responses=TransactionDetailOutput)
    def get(self, request: Request, transaction_id: str) -> Response:
        """One transaction with its entries, and the reversal that undid it, if any."""
        txn = selectors.transaction_get(tenant=self.tenant, transaction_id=transaction_id)
        data = presenters.transaction_data(txn, selectors.transaction_entries(txn))
        reversal = LedgerTransaction.objects.filter(reverses=txn).values_list("uuid", flat=True)
        data["reversed_by"] = str(reversal[0]) if reversal else None
        return Response(data)


class TransactionReverseApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        memo = serializers.CharField(required=False, max_length=500)
        metadata = serializers.JSONField(required=False)

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: TransactionOutput})
    @idempotent
    def post(self, request: Request, transaction_id: str) -> Response:
        """Post the exact opposite of a transaction, linked to it (at most once)."""
        txn = selectors.transaction_get(tenant=self.tenant, transaction_id=transaction_id)
        data = inputs.require_object(request.data or {})
        result = services.transaction_reverse(
            transaction_=txn,
            tenant=self.tenant,
            actor=self.actor,
            memo=inputs.parse_string(data, "memo", max_length=500),
            metadata=inputs.parse_metadata(data),
        )
        return Response(_transaction_body(result), status=status.HTTP_201_CREATED)
