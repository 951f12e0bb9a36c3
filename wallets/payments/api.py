"""Push payments API: payment requests (merchant), authorizations (payer), redemption,
refunds, receipts, and a QR decoder. Error codes: docs/payments.md."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from sandbox.api.views import PresenterSerializer
from sandbox.errors import ApplicationError
from sandbox.tenants.api import TenantScopedListView, TenantScopedView
from sandbox.tenants.models import Node
from wallets import inputs
from wallets.api import IDEMPOTENCY_PARAMETER, TransactionOutput
from wallets.idempotency import idempotent
from wallets.inputs import AmountField
from wallets.locking import Statement
from wallets.payments import emvco, presenters, receipts, redeeming, services
from wallets.payments.models import PaymentAuthorization, PaymentRequest, Refund
from wallets.selectors import account_get

# --- Documented shapes: exactly what the presenters return -----------------------------------


class PaymentRequestOutput(PresenterSerializer):
    @staticmethod
    def present(instance: PaymentRequest) -> dict[str, Any]:
        return presenters.request_json(instance)

    id = serializers.UUIDField()
    node_id = serializers.UUIDField(help_text="The merchant node.")
    account_id = serializers.UUIDField(help_text="The account the money goes to.")
    order_id = serializers.CharField()
    amount = serializers.CharField(help_text='A decimal string, e.g. "12.34".')
    currency = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=PaymentRequest.Status.choices)
    refunded_amount = serializers.CharField()
    url = serializers.URLField(help_text="Public: serves the signed request (application/jose).")
    qr_png_url = serializers.URLField(help_text="Public: the QR as a PNG image.")
    qr_svg_url = serializers.URLField(help_text="Public: the QR as an SVG image.")
    qr_payload = serializers.CharField(help_text="The EMVCo merchant-presented QR payload.")
    request_hash = serializers.CharField(help_text="SHA-256 of the request JWS, base64url.")
    jws = serializers.CharField(help_text="The request signed by the merchant node.")
    transaction_id = serializers.UUIDField(allow_null=True, help_text="The redemption's.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    authorized_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)


class AuthorizationOutput(PresenterSerializer):
    @staticmethod
    def present(instance: PaymentAuthorization) -> dict[str, Any]:
        return presenters.authorization_json(instance)

    id = serializers.UUIDField()
    payment_request_id = serializers.UUIDField()
    payer_node_id = serializers.UUIDField()
    payer_account_id = serializers.UUIDField(
        help_text="Shown to the payer's node only; the token carries a salted commitment."
    )
    token = serializers.CharField(help_text="The signed authorization to hand to the merchant.")
    token_hash = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class RefundOutput(PresenterSerializer):
    @staticmethod
    def present(instance: Refund) -> dict[str, Any]:
        return presenters.refund_json(instance)

    id = serializers.UUIDField()
    payment_request_id = serializers.UUIDField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    reason = serializers.CharField()
    transaction_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()


class JwkOutput(serializers.Serializer):
    kty = serializers.CharField()
    crv = serializers.CharField()
    x = serializers.CharField()
    kid = serializers.CharField()
    alg = serializers.CharField()
    use = serializers.CharField()
    status = serializers.CharField()
    origin = serializers.CharField()
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)
    node_id = serializers.UUIDField()


class ReceiptJwksOutput(serializers.Serializer):
    keys = JwkOutput(many=True)


class ReceiptOutput(serializers.Serializer):
    format = serializers.CharField(help_text=f'"{receipts.RECEIPT_FORMAT}"')
    payment_request = PaymentRequestOutput()
    request_jws = serializers.CharField()
    token_jws = serializers.CharField()
    jwks = ReceiptJwksOutput(help_text="The merchant's and the payer's keys that signed.")
    transaction = TransactionOutput()
    proof_status = serializers.CharField(
        help_text="included, or why not yet: day_not_closed, not_anchored, unavailable."
    )
    proof = serializers.JSONField(
        allow_null=True, help_text="The transaction's inclusion proof (docs/clearing.md)."
    )


class QrDecodedOutput(serializers.Serializer):
    url = serializers.CharField()
    payment_request_id = serializers.UUIDField(allow_null=True)
    amount = serializers.CharField()
    currency = serializers.CharField()
    country = serializers.CharField()
    merchant_name = serializers.CharField()
    city = serializers.CharField()
    reference = serializers.CharField(allow_null=True)


# --- Merchant: payment requests ---------------------------------------------------------------


class PaymentRequestListApi(TenantScopedListView):
    """Your nodes' payment requests, newest first."""

    serializer_class = PaymentRequestOutput
    model = PaymentRequest

    class InputSerializer(serializers.Serializer):
        account_id = serializers.CharField(help_text="The merchant node's account to pay into.")
        order_id = serializers.CharField(max_length=64, help_text="Unique per merchant node.")
        amount = AmountField()
        currency = serializers.CharField()
        description = serializers.CharField(
            required=False, default="", allow_blank=True, max_length=200
        )
        expires_in = serializers.IntegerField(
            required=False, help_text="Seconds, 30 to 604800 (default 900), on the node's clock."
        )
        jws = serializers.CharField(
            required=False,
            help_text="Only for a node that signs outside: the request you signed (its claims "
            "must be these fields; its exp is the expiry; docs/payments.md).",
        )

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return (
            PaymentRequest.objects.for_tenant(self.tenant)
            .select_related("transaction")
            .order_by("-created_at", "-id")
        )

    @extend_schema(responses={201: PaymentRequestOutput})
    def post(self, request: Request) -> Response:
        """Create a payment request, signed by the account's node, with its dynamic QR."""
        values = self.validated_input()
        account = account_get(tenant=self.tenant, account_id=values["account_id"])
        currency = inputs.parse_currency(values["currency"])
        payment_request = services.payment_request_create(
            actor=self.actor,
            account=account,
            order_id=values["order_id"],
            amount=inputs.parse_amount(values["amount"], currency),
            currency=currency,
            description=values["description"],
            expires_in=values.get("expires_in"),
            signed=values.get("jws"),
        )
        return Response(presenters.request_json(payment_request), status=status.HTTP_201_CREATED)


def _request(view: TenantScopedView, request_id: str) -> PaymentRequest:
    return PaymentRequest.objects.select_related("transaction", "node").get_for_tenant(
        view.tenant, request_id
    )


class PaymentRequestDetailApi(TenantScopedView):
    @extend_schema(responses=PaymentRequestOutput)
    def get(self, request: Request, request_id: str) -> Response:
        """One payment request."""
        return Response(presenters.request_json(_request(self, request_id)))


class PaymentRequestCancelApi(TenantScopedView):
    @extend_schema(responses=PaymentRequestOutput)
    def post(self, request: Request, request_id: str) -> Response:
        """Withdraw an unpaid request: its tokens can no longer be redeemed."""
        payment_request = services.payment_request_cancel(
            request=_request(self, request_id), actor=self.actor
        )
        return Response(presenters.request_json(payment_request))


class PaymentRequestRedeemApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="The payer node's signed authorization (JWS).")

    _read: redeeming.RedeemRead | None = None

    def claim_along(self, request: Request) -> list[Statement]:
        """What the redemption reads (the request, locked; the keys; the authorization;
        the nodes' clocks: ``redeeming``), read in the round trip of the idempotency
        claim. Nothing for a malformed id or body: the handler refuses those as before."""
        if connection.vendor != "postgresql" or not isinstance(request.data, dict):
            return []
        try:
            request_id = uuid.UUID(str(self.kwargs["request_id"]))
        except ValueError:
            return []
        self._read = redeeming.RedeemRead()
        return redeeming.statements(
            tenant_id=self.tenant.pk,
            request_id=request_id,
            token=request.data.get("token"),
            into=self._read,
        )

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses=PaymentRequestOutput)
    @idempotent
    def post(self, request: Request, request_id: str) -> Response:
        """Present the payer's token and get paid: one ledger transaction. A token
        presented again answers 409 ``already_paid`` with the first transaction's id; an
        expired request or token 410; a forged or mismatched token 422 with the reason."""
        read = self._read
        if read is not None and read.request is not None:
            payment_request = read.request  # of this tenant, locked with the claim
        else:
            payment_request = _request(self, request_id)
        values = self.validated_input()
        paid = services.payment_redeem(
            request=payment_request, token=values["token"], actor=self.actor, read=read
        )
        return Response(presenters.request_json(paid))


class PaymentRequestRefundsApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        amount = AmountField(required=False, help_text="Default: all that is left to refund.")
        reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)

    @extend_schema(responses=RefundOutput(many=True))
    def get(self, request: Request, request_id: str) -> Response:
        """The order's refunds, oldest first."""
        payment_request = _request(self, request_id)
        refunds = payment_request.refunds.select_related("transaction", "request").order_by(
            "created_at", "id"
        )
        return Response([presenters.refund_json(refund) for refund in refunds])

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER], responses={201: RefundOutput})
    @idempotent
    def post(self, request: Request, request_id: str) -> Response:
        """Refund part or all of a paid order, never more than was paid (422
        ``refund_exceeds_payment``)."""
        payment_request = _request(self, request_id)
        values = self.validated_input()
        amount = None
        if values.get("amount") is not None:
            amount = inputs.parse_amount(values["amount"], payment_request.currency)
        refund = services.payment_refund(
            request=payment_request, actor=self.actor, amount=amount, reason=values["reason"]
        )
        return Response(presenters.refund_json(refund), status=status.HTTP_201_CREATED)


class PaymentRequestReceiptApi(TenantScopedView):
    @extend_schema(responses=ReceiptOutput)
    def get(self, request: Request, request_id: str) -> Response:
        """The receipt bundle of a paid order (409 ``not_paid`` before): check it offline
        with ``clearing/verify_receipt.py``. Its proof appears once the day is closed."""
        payment_request = _request(self, request_id)
        return Response(receipts.receipt(tenant=self.tenant, request=payment_request))


# --- Payer: authorizations --------------------------------------------------------------------


class NodePaymentAuthorizationApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        request_jws = serializers.CharField(help_text="The request as its QR's URL serves it.")
        account_id = serializers.CharField(help_text="The payer node's account that pays.")
        expires_in = serializers.IntegerField(
            required=False, help_text="Seconds, 30 to 86400 (default 600), on the node's clock."
        )
        token = serializers.CharField(
            required=False, help_text="Only for a node that signs outside: your signed token."
        )
        salt = serializers.CharField(
            required=False, help_text="With token: the salt of its account commitment."
        )

    @extend_schema(responses={201: AuthorizationOutput})
    def post(self, request: Request, node_id: str) -> Response:
        """The payer's node authorizes a payment request it fetched: the merchant's
        signature is checked, and the node signs the token (hash, amount, currency,
        merchant, a salted commitment to the account, expiry)."""
        node = Node.objects.get_for_tenant(self.tenant, node_id)
        values = self.validated_input()
        account = account_get(tenant=self.tenant, account_id=values["account_id"])
        signed = None
        if ("token" in values) != ("salt" in values):
            raise ApplicationError("Send token and salt together.", code="token_without_salt")
        if "token" in values:
            signed = services.SignedToken(jws=values["token"], salt=values["salt"])
        authorization = services.payment_authorize(
            tenant=self.tenant,
            actor=self.actor,
            payer_node=node,
            account=account,
            request_jws=values["request_jws"],
            expires_in=values.get("expires_in"),
            signed=signed,
        )
        return Response(
            presenters.authorization_json(authorization), status=status.HTTP_201_CREATED
        )


class PaymentQrDecodeApi(TenantScopedView):
    class InputSerializer(serializers.Serializer):
        payload = serializers.CharField(
            help_text="The text of a scanned QR.", trim_whitespace=False, allow_blank=True
        )

    @extend_schema(responses=QrDecodedOutput)
    def post(self, request: Request) -> Response:
        """Decode an EMVCo QR payload of a payment request (CRC and structure checked;
        400 ``invalid_qr_payload`` or ``qr_crc_mismatch``)."""
        values = self.validated_input()
        try:
            data = emvco.parse(values["payload"])
        except emvco.QrError as error:
            raise ApplicationError(
                error.message, code=error.code, fields={"payload": [error.message]}
            ) from None
        return Response(
            {
                "url": data.url,
                "payment_request_id": presenters.request_id_of_url(data.url),
                "amount": data.amount,
                "currency": data.currency,
                "country": data.country,
                "merchant_name": data.merchant_name,
                "city": data.city,
                "reference": data.reference,
            }
        )
