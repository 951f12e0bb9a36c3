"""FX routes, included under /api/v1/ (namespace ``api``)."""

from django.urls import path

from wallets.fx import api

urlpatterns = [
    path("fx/rates", api.RatesApi.as_view(), name="fx-rates"),
    path("fx/rates/history", api.RateHistoryApi.as_view(), name="fx-rate-history"),
    path("fx/quotes", api.QuoteListApi.as_view(), name="fx-quotes"),
    path("fx/quotes/<str:quote_id>", api.QuoteDetailApi.as_view(), name="fx-quote"),
    path("fx/conversions", api.ConversionListApi.as_view(), name="fx-conversions"),
    path(
        "fx/conversions/<str:conversion_id>",
        api.ConversionDetailApi.as_view(),
        name="fx-conversion",
    ),
    path("operator/fx/desk", api.OperatorDeskApi.as_view(), name="operator-fx-desk"),
    path("operator/fx/rates", api.OperatorRatesApi.as_view(), name="operator-fx-rates"),
    path("operator/fx/pairs/<str:pair>", api.OperatorPairApi.as_view(), name="operator-fx-pair"),
    path(
        "operator/fx/pairs/<str:pair>/events",
        api.OperatorRateEventApi.as_view(),
        name="operator-fx-rate-events",
    ),
]
