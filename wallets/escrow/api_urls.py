"""Escrow routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from wallets.escrow import api

urlpatterns = [
    path("escrows", api.EscrowListApi.as_view(), name="escrows"),
    path("escrows/<str:escrow_id>", api.EscrowDetailApi.as_view(), name="escrow"),
    path("escrows/<str:escrow_id>/release", api.EscrowReleaseApi.as_view(), name="escrow-release"),
    path("escrows/<str:escrow_id>/refund", api.EscrowRefundApi.as_view(), name="escrow-refund"),
    path(
        "escrows/<str:escrow_id>/dispute",
        api.EscrowDisputeOpenApi.as_view(),
        name="escrow-dispute-open",
    ),
    path("escrow_disputes", api.EscrowDisputeListApi.as_view(), name="escrow-disputes"),
    path(
        "escrow_disputes/<str:dispute_id>",
        api.EscrowDisputeDetailApi.as_view(),
        name="escrow-dispute",
    ),
    path(
        "escrow_disputes/<str:dispute_id>/evidence",
        api.EscrowDisputeEvidenceApi.as_view(),
        name="escrow-dispute-evidence",
    ),
    path(
        "test_helpers/escrow_disputes/<str:dispute_id>/<str:action>",
        api.TestHelperEscrowDisputeApi.as_view(),
        name="test-helper-escrow-dispute",
    ),
]
