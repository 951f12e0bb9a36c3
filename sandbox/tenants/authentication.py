from __future__ import annotations

from rest_framework import authentication, exceptions

from sandbox.tenants.access import ApiKeyPrincipal, client_ip
from sandbox.tenants.services import Actor, api_key_authenticate, audit_record
from sandbox.throttles import KeyFailureThrottle


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer sk_test_...``. The tenant's status is checked on every
    request (no caching), so a suspension or revocation takes effect at once. An address
    that sent too many unknown keys gets 429 for any key until its window has room
    (``sandbox.throttles.KeyFailureThrottle``); the moment it trips is audited."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not secret.strip():
            raise exceptions.AuthenticationFailed(
                "Use the header 'Authorization: Bearer <API key>'.", code="malformed_api_key"
            )
        failures = KeyFailureThrottle()
        if (wait := failures.check(request)) is not None:
            raise exceptions.Throttled(wait)
        api_key = api_key_authenticate(secret=secret.strip())
        if api_key is None:
            if failures.record(request):
                audit_record(
                    actor=Actor(ip_address=client_ip(request)),
                    action="api_key.authentication_throttled",
                    tenant=None,
                    data={"limit": failures.rate},
                )
            raise exceptions.AuthenticationFailed(
                "This API key is not valid or has been revoked.", code="invalid_api_key"
            )
        if api_key.tenant.status == api_key.tenant.Status.SUSPENDED:
            raise exceptions.AuthenticationFailed(
                "This organization is suspended.", code="tenant_suspended"
            )
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
