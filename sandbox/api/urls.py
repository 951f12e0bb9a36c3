"""Every API route, under /api/v1/ (namespace ``api``): each app lists its own, included
by name so that the plumbing imports none of the apps above it."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("sandbox.tenants.api_urls")),
    path("", include("wallets.api_urls")),
    path("", include("sandbox.events.api_urls")),
    path("", include("wallets.banknet.api_urls")),
    path("", include("clearing.api_urls")),
    path("", include("wallets.escrow.api_urls")),
    path("", include("sandbox.nodekeys.api_urls")),
    path("", include("wallets.payments.api_urls")),
    path("", include("wallets.merchant_settlement.api_urls")),
    path("", include("wallets.fx.api_urls")),
    path("", include("sandbox.identities.api_urls")),
    path("", include("sandbox.identities.verification.api_urls")),
    path("", include("sandbox.identities.credentials.api_urls")),
    path("", include("wallets.credit.api_urls")),
    path("", include("clearing.remittance.api_urls")),
]
