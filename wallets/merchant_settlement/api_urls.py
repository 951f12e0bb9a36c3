"""Merchant settlement routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from wallets.merchant_settlement import api

urlpatterns = [
    path(
        "nodes/<str:node_id>/settlement_contract",
        api.NodeSettlementContractApi.as_view(),
        name="node-settlement-contract",
    ),
    path(
        "nodes/<str:node_id>/settlement_contract/run",
        api.NodeSettlementRunApi.as_view(),
        name="node-settlement-run",
    ),
    path("settlement_batches", api.SettlementBatchListApi.as_view(), name="settlement-batches"),
    path(
        "settlement_batches/<str:batch_id>",
        api.SettlementBatchDetailApi.as_view(),
        name="settlement-batch",
    ),
    path(
        "settlement_batches/<str:batch_id>/statement.csv",
        api.SettlementStatementApi.as_view(),
        name="settlement-batch-statement",
    ),
    path(
        "settlement_batches/<str:batch_id>/statement_signature",
        api.SettlementStatementSignatureApi.as_view(),
        name="settlement-batch-statement-signature",
    ),
]
