"""Wallet routes, included under /api/v1/ by ``sandbox.api.urls`` (namespace ``api``)."""

from django.urls import path

from wallets import api

urlpatterns = [
    path("nodes/<str:node_id>/wallet", api.WalletApi.as_view(), name="wallet"),
    path("balances", api.BalancesApi.as_view(), name="balances"),
    path("accounts", api.AccountListApi.as_view(), name="accounts"),
    path("accounts/<str:account_id>", api.AccountDetailApi.as_view(), name="account"),
    path(
        "accounts/<str:account_id>/balance", api.AccountBalanceApi.as_view(), name="account-balance"
    ),
    path("accounts/<str:account_id>/close", api.AccountCloseApi.as_view(), name="account-close"),
    path("transfers", api.TransferApi.as_view(), name="transfers"),
    path("transfers/bulk", api.TransferBulkApi.as_view(), name="transfers-bulk"),
    path("holds", api.HoldListApi.as_view(), name="holds"),
    path("holds/<str:hold_id>", api.HoldDetailApi.as_view(), name="hold"),
    path("holds/<str:hold_id>/capture", api.HoldCaptureApi.as_view(), name="hold-capture"),
    path("holds/<str:hold_id>/void", api.HoldVoidApi.as_view(), name="hold-void"),
    path("transactions", api.TransactionListApi.as_view(), name="transactions"),
    path("transactions/export.csv", api.TransactionExportApi.as_view(), name="transactions-export"),
    path(
        "transactions/<str:transaction_id>", api.TransactionDetailApi.as_view(), name="transaction"
    ),
    path(
        "transactions/<str:transaction_id>/reverse",
        api.TransactionReverseApi.as_view(),
        name="transaction-reverse",
    ),
]
