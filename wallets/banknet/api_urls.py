"""Bank network routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from wallets.banknet import api

urlpatterns = [
    path("banks", api.BankListApi.as_view(), name="banks"),
    path("bank_accounts", api.BankAccountListApi.as_view(), name="bank-accounts"),
    path(
        "bank_accounts/<str:bank_account_id>",
        api.BankAccountDetailApi.as_view(),
        name="bank-account",
    ),
    path(
        "bank_accounts/<str:bank_account_id>/close",
        api.BankAccountCloseApi.as_view(),
        name="bank-account-close",
    ),
    path(
        "nodes/<str:node_id>/account_links",
        api.NodeAccountLinkApi.as_view(),
        name="node-account-links",
    ),
    path("account_links", api.AccountLinkListApi.as_view(), name="account-links"),
    path("account_links/<str:link_id>", api.AccountLinkDetailApi.as_view(), name="account-link"),
    path(
        "account_links/<str:link_id>/confirm",
        api.AccountLinkConfirmApi.as_view(),
        name="account-link-confirm",
    ),
    path("deposits", api.DepositListApi.as_view(), name="deposits"),
    path("deposits/<str:deposit_id>", api.DepositDetailApi.as_view(), name="deposit"),
    path("withdrawals", api.WithdrawalListApi.as_view(), name="withdrawals"),
    path("withdrawals/<str:withdrawal_id>", api.WithdrawalDetailApi.as_view(), name="withdrawal"),
    path("bank_transfers", api.BankTransferApi.as_view(), name="bank-transfers"),
    path("card_payments", api.CardPaymentListApi.as_view(), name="card-payments"),
    path("card_payments/<str:payment_id>", api.CardPaymentDetailApi.as_view(), name="card-payment"),
    path(
        "card_payments/<str:payment_id>/<str:action>",
        api.CardPaymentActionApi.as_view(),
        name="card-payment-action",
    ),
    path("test_helpers/deposits", api.TestHelperDepositApi.as_view(), name="test-helper-deposits"),
    path(
        "test_helpers/nodes/<str:node_id>/<str:action>",
        api.TestHelperWithdrawalRuleApi.as_view(),
        name="test-helper-node-rule",
    ),
    path(
        "test_helpers/withdrawal_rules",
        api.TestHelperRuleListApi.as_view(),
        name="test-helper-rules",
    ),
    path(
        "test_helpers/withdrawals/<str:withdrawal_id>/return",
        api.TestHelperReturnApi.as_view(),
        name="test-helper-return",
    ),
    path(
        "test_helpers/banks/<str:code>/<str:action>",
        api.TestHelperBankApi.as_view(),
        name="test-helper-bank",
    ),
    path("test_helpers/log", api.TestHelperLogApi.as_view(), name="test-helper-log"),
    path(
        "test_helpers/scenarios", api.TestHelperScenarioApi.as_view(), name="test-helper-scenarios"
    ),
    path("operator/banks", api.OperatorBankListApi.as_view(), name="operator-banks"),
    path("operator/banks/<str:code>", api.OperatorBankApi.as_view(), name="operator-bank"),
]
