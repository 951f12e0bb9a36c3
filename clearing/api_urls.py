"""Clearing routes, included under /api/v1/ by ``sandbox.api.urls`` (namespace ``api``)."""

from django.urls import path

from clearing import api

urlpatterns = [
    path(
        "transactions/<str:transaction_id>/proof",
        api.TransactionProofApi.as_view(),
        name="transaction-proof",
    ),
    path(
        "transactions/<str:transaction_id>/record",
        api.TransactionRecordApi.as_view(),
        name="transaction-record",
    ),
    path("nodes/<str:node_id>/record_key", api.NodeRecordKeyApi.as_view(), name="node-record-key"),
    path(
        "test_clocks/<str:clock_id>/end_day",
        api.ClockEndDayApi.as_view(),
        name="test-clock-end-day",
    ),
    path(
        "test_clocks/<str:clock_id>/closes",
        api.ClockCloseListApi.as_view(),
        name="test-clock-closes",
    ),
    path(
        "test_clocks/<str:clock_id>/closes/<str:day>",
        api.ClockCloseDetailApi.as_view(),
        name="test-clock-close",
    ),
    path(
        "test_clocks/<str:clock_id>/closes/<str:day>/proofs/<str:transaction_id>",
        api.ClockCloseProofApi.as_view(),
        name="test-clock-close-proof",
    ),
    path("clearing/closes", api.DayCloseListApi.as_view(), name="clearing-closes"),
    path("clearing/closes/<str:day>", api.DayCloseDetailApi.as_view(), name="clearing-close"),
    path("clearing/closes/<str:day>/proof.ots", api.DayCloseOtsApi.as_view(), name="clearing-ots"),
    path("clearing/chain", api.ChainApi.as_view(), name="clearing-chain"),
    path("clearing/log", api.CloseLogApi.as_view(), name="clearing-log"),
    path("clearing/settlements", api.SettlementWindowListApi.as_view(), name="settlement-windows"),
    path(
        "clearing/settlements/<str:window_id>",
        api.SettlementWindowApi.as_view(),
        name="settlement-window",
    ),
    path(
        "clearing/settlements/<str:window_id>/report.csv",
        api.SettlementReportCsvApi.as_view(),
        name="settlement-report",
    ),
    path("clearing/jobs", api.JobListApi.as_view(), name="clearing-jobs"),
    path("clearing/contracts", api.ContractListApi.as_view(), name="clearing-contracts"),
    path("operator/clearing/settle", api.OperatorSettleApi.as_view(), name="operator-settle"),
    path("operator/clearing/verify", api.OperatorVerifyApi.as_view(), name="operator-verify"),
    path(
        "operator/clearing/settlements/<str:window_id>/abort",
        api.OperatorWindowAbortApi.as_view(),
        name="operator-window-abort",
    ),
    path(
        "operator/clearing/contracts/<str:node_id>",
        api.OperatorContractApi.as_view(),
        name="operator-contract",
    ),
    path("operator/clearing/close", api.OperatorCloseApi.as_view(), name="operator-close"),
    path("operator/clearing/jobs", api.OperatorJobListApi.as_view(), name="operator-jobs"),
    path(
        "operator/clearing/records/<str:transaction_id>",
        api.OperatorRecordApi.as_view(),
        name="operator-record",
    ),
    path(
        "operator/clearing/thresholds",
        api.OperatorThresholdApi.as_view(),
        name="operator-thresholds",
    ),
    path(
        "operator/clearing/jobs/<str:job_id>/retry",
        api.OperatorJobRetryApi.as_view(),
        name="operator-job-retry",
    ),
]
