from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.defaults import page_not_found

from sandbox.api.errors import error_body
from sandbox.errors import NotFound
from sandbox.tenants.access import resolve_access
from sandbox.tenants.selectors import tenant_suspension_reason


def is_api_key_request(request) -> bool:
    """An API request that names its credentials in ``Authorization``. The API
    authenticates it by that header alone (``ApiKeyAuthentication`` comes first and refuses
    any other scheme; only an empty header falls back to the session), so its session,
    session user and messages are never asked for: reading them would only cost a session
    load for nothing."""
    return bool(request.META.get("HTTP_AUTHORIZATION")) and request.path.startswith("/api/")


class PagesOnly:
    """A middleware of the dashboard's pages that an API key request passes by (see
    ``is_api_key_request``): what it would set up for the request, nothing reads, and it
    changes nothing in the answer. The classes below are Django's, for every other request
    (and for the admin's checks); every request, in tests too, goes through them. (Sessions
    stay Django's own: ``check --deploy`` looks for that exact class.)"""

    def __call__(self, request):
        if is_api_key_request(request):
            return self.get_response(request)
        return super().__call__(request)


class AuthenticationMiddleware(PagesOnly, auth_middleware.AuthenticationMiddleware):
    # The API sets ``request.user`` itself once it has authenticated the key (DRF's Request).
    pass


class MessageMiddleware(PagesOnly, messages_middleware.MessageMiddleware):
    pass


class TenantMiddleware:
    """Puts ``request.tenant_access`` on dashboard requests and ends the session of anyone
    whose organization is suspended, on their very next request. API key requests are left
    to the API's own permission class (``IsActiveTenantMember``), which resolves their
    access and refuses a suspended tenant's key."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api_key_request(request):
            request.tenant_access = None
            response = self.get_response(request)
            # The same headers as when the session was read here: ``Vary: Cookie`` stays
            # (set at once when the answer varies by nothing else, as an API answer does).
            if "Vary" in response:
                patch_vary_headers(response, ("Cookie",))
            else:
                response.headers["Vary"] = "Cookie"
            return response
        request.tenant_access = resolve_access(request)
        access = request.tenant_access
        if access is not None and access.tenant.status == access.tenant.Status.SUSPENDED:
            logout(request)
            request.tenant_access = None
            if request.path.startswith("/api/"):
                body = error_body("tenant_suspended", "This organization is suspended.")
                return JsonResponse(body, status=403)
            context = {
                "tenant": access.tenant,
                "reason": tenant_suspension_reason(access.tenant),
            }
            return render(request, "tenants/suspended.html", context, status=403)
        return self.get_response(request)

    def process_exception(self, request, exception):
        # Services answer "not found" the same way for the API and the dashboard; DRF maps
        # it for the API, and here it becomes the dashboard's ordinary 404 page.
        if isinstance(exception, NotFound) and not request.path.startswith("/api/"):
            return page_not_found(request, Http404(exception.message))
        return None
