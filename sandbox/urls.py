from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.defaults import bad_request, page_not_found, server_error
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from sandbox import health
from sandbox.api.errors import json_bad_request, json_not_found, json_server_error
from sandbox.api.resolving import remembered_include
from sandbox.tenants import views as tenant_views
from sandbox.throttles import LoginThrottle, throttle_page

# Login attempts per address are limited here; wrong passwords per account lock out
# through django-axes (sandbox.tenants.lockouts).
login_view = throttle_page(LoginThrottle)(
    auth_views.LoginView.as_view(redirect_authenticated_user=True)
)


def docs_page(view_class):
    styled = {"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]}
    return csp_update(styled)(view_class.as_view(url_name="schema"))


urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    remembered_include("api/v1/", "sandbox.api.urls"),  # resolved once per path
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start-up script as a file of its own (the split view), not inline; both
    # renderers style their pages at run time (inline styles), so these pages allow them.
    path("api/docs/", docs_page(SpectacularSwaggerSplitView), name="swagger-ui"),
    path("api/redoc/", docs_page(SpectacularRedocView), name="redoc"),
    path("login/", login_view, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("wallets.onboarding.urls")),  # sign-up with a first node, first run
    path("invitations/<str:token>/", tenant_views.invitation_accept, name="invitation-accept"),
    path("operator/", include("sandbox.tenants.operator_urls")),
    path("wallets/", include("wallets.dashboard_urls")),
    path("clearing/", include("clearing.dashboard_urls")),
    path("test-clocks/", include("clearing.clock_urls")),  # before the events app's clock routes
    path("jwks/", include("sandbox.nodekeys.public_urls")),
    path("jwks/", include("sandbox.identities.credentials.public_urls")),
    path("identities/credentials/", include("sandbox.identities.credentials.dashboard_urls")),
    path("pay/", include("wallets.payments.public_urls")),
    path("payments/", include("wallets.payments.dashboard_urls")),
    path("settlement/", include("wallets.merchant_settlement.dashboard_urls")),
    path("fx/", include("wallets.fx.dashboard_urls")),
    path("people/", include("sandbox.identities.dashboard_urls")),
    path("oidc/", include("sandbox.identities.verification.public_urls")),
    path("identities/", include("sandbox.identities.verification.dashboard_urls")),
    path("credit/", include("wallets.credit.dashboard_urls")),
    path("remittances/", include("clearing.remittance.dashboard_urls")),
    path("", include("sandbox.events.dashboard_urls")),
    path("", include("wallets.banknet.dashboard_urls")),
    path("", include("wallets.escrow.dashboard_urls")),
    path("", include("sandbox.tenants.dashboard_urls")),
]


def handler400(request, exception=None):
    if request.path.startswith("/api/"):
        return json_bad_request(request, exception)
    return bad_request(request, exception)


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return json_server_error(request)
    return server_error(request)
