from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("sandbox.tenants.api_urls")),
    path("", include("wallets.api_urls")),
    path("", include("sandbox.events.api_urls")),
    path("", include("wallets.banknet.api_urls")),
    path("", include("clearing.api_urls")),
]
