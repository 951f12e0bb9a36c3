"""Clearing routes, included under /api/v1/ by ``sandbox.api.urls`` (namespace ``api``)."""

from django.urls import path

from clearing.api import clock_closes, days, jobs, operator, records, settlement

urlpatterns = [
    path(
        "transactions/<str:transaction_id>/proof",
        days.TransactionProofApi.as_view(),
        name="transaction-proof",
    ),
    path(
        "transactions/<str:transaction_id>/record",
        records.TransactionRecordApi.as_view(),
        name="transaction-record",
    ),
    path(
        "nodes/<str:node_id>/record_key", records.NodeRecordKeyApi.as_view(), name="node-record-key"
    ),
    path(
        "test_clocks/<str:clock_id>/end_day",
        clock_closes.ClockEndDayApi.as_view(),
        name="test-clock-end-day",
    ),
    path(
        "test_clocks/<str:clock_id>/closes",
        clock_closes.ClockCloseListApi.as_view(),
        name="test-clock-closes",
    ),
    path(
        "test_clocks/<str:clock_id>/closes/<str:day>",
        clock_closes.ClockCloseDetailApi.as_view(),
        name="test-clock-close",
    ),
    path(
        "test_clocks/<str:clock_id>/closes/<str:day>/proofs/<str:transaction_id>",
        clock_closes.ClockCloseProofApi.as_view(),
        name="test-clock-close-proof",
    ),
    path("clearing/closes", days.DayCloseListApi.as_view(), name="clearing-closes"),
    path("clearing/closes/<str:day>", days.DayCloseDetailApi.as_view(), name="clearing-close"),
    path("clearing/closes/<str:day>/proof.ots", days.DayCloseOtsApi.as_view(), name="clearing-ots"),
    path("clearing/chain", days.ChainApi.as_view(), name="clearing-chain"),
    path("clearing/log", days.CloseLogApi.as_view(), name="clearing-log"),
    path(
        "clearing/settlements",
        settlement.SettlementWindowListApi.as_view(),
        name="settlement-windows",
    ),
    path(
        "clearing/settlements/<str:window_id>",
        settlement.SettlementWindowApi.as_view(),
        name="settlement-window",
    ),
    path(
        "clearing/settlements/<str:window_id>/report.csv",
        settlement.SettlementReportCsvApi.as_view(),
        name="settlement-report",
    ),
    path("clearing/jobs", jobs.JobListApi.as_view(), name="clearing-jobs"),
    path("clearing/contracts", settlement.ContractListApi.as_view(), name="clearing-contracts"),
    path("operator/clearing/settle", operator.OperatorSettleApi.as_view(), name="operator-settle"),
    path("operator/clearing/verify", operator.OperatorVerifyApi.as_view(), name="operator-verify"),
    path(
        "operator/clearing/settlements/<str:window_id>/abort",
        settlement.OperatorWindowAbortApi.as_view(),
        name="operator-window-abort",
    ),
    path(
        "operator/clearing/contracts/<str:node_id>",
        settlement.OperatorContractApi.as_view(),
        name="operator-contract",
    ),
    path("operator/clearing/close", operator.OperatorCloseApi.as_view(), name="operator-close"),
    path("operator/clearing/jobs", jobs.OperatorJobListApi.as_view(), name="operator-jobs"),
    path(
        "operator/clearing/records/<str:transaction_id>",
        records.OperatorRecordApi.as_view(),
        name="operator-record",
    ),
    path(
        "operator/clearing/thresholds",
        records.OperatorThresholdApi.as_view(),
        name="operator-thresholds",
    ),
    path(
        "operator/clearing/jobs/<str:job_id>/retry",
        jobs.OperatorJobRetryApi.as_view(),
        name="operator-job-retry",
    ),
]
