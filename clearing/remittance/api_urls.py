"""Remittance routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from clearing.remittance import api

urlpatterns = [
    path("remittances", api.RemittanceListApi.as_view(), name="remittances"),
    path("remittances/<str:remittance_id>", api.RemittanceDetailApi.as_view(), name="remittance"),
    path(
        "remittances/<str:remittance_id>/travel_rule",
        api.RemittanceTravelRuleApi.as_view(),
        name="remittance-travel-rule",
    ),
    path(
        "remittances/<str:remittance_id>/receipt",
        api.RemittanceReceiptApi.as_view(),
        name="remittance-receipt",
    ),
    path(
        "test_helpers/remittances/<str:remittance_id>/advance",
        api.TestHelperRemittanceAdvanceApi.as_view(),
        name="test-helper-remittance-advance",
    ),
]
