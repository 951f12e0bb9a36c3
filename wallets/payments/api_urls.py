"""Payment routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from wallets.payments import api

urlpatterns = [
    path("payment_requests", api.PaymentRequestListApi.as_view(), name="payment-requests"),
    path(
        "payment_requests/<str:request_id>",
        api.PaymentRequestDetailApi.as_view(),
        name="payment-request",
    ),
    path(
        "payment_requests/<str:request_id>/cancel",
        api.PaymentRequestCancelApi.as_view(),
        name="payment-request-cancel",
    ),
    path(
        "payment_requests/<str:request_id>/redeem",
        api.PaymentRequestRedeemApi.as_view(),
        name="payment-request-redeem",
    ),
    path(
        "payment_requests/<str:request_id>/refunds",
        api.PaymentRequestRefundsApi.as_view(),
        name="payment-request-refunds",
    ),
    path(
        "payment_requests/<str:request_id>/receipt",
        api.PaymentRequestReceiptApi.as_view(),
        name="payment-request-receipt",
    ),
    path(
        "nodes/<str:node_id>/payment_authorizations",
        api.NodePaymentAuthorizationApi.as_view(),
        name="node-payment-authorizations",
    ),
    path("payment_qr/decode", api.PaymentQrDecodeApi.as_view(), name="payment-qr-decode"),
]
