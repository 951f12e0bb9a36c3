from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions

from sandbox.tenants import keycache
from sandbox.tenants.access import ApiKeyPrincipal, client_ip
from sandbox.tenants.models import ApiKey
from sandbox.tenants.services import (
    API_KEY_PREFIX,
    Actor,
    api_key_authenticate,
    api_key_mark_used,
    audit_record,
    hash_secret,
)
from sandbox.throttles import KeyFailureThrottle, admit, redis_cache

logger = logging.getLogger(__name__)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer sk_test_...``. With Redis, the key and its tenant come from
    their cached record (``sandbox.tenants.keycache``), in the one round trip that also
    counts the request's limits (``sandbox.throttles.admit``); without a record, from
    PostgreSQL, which then fills it. The tenant's status is checked on every request and
    every change to a key or its tenant forgets the record, so a suspension or a
    revocation takes effect at once. An address that sent too many unknown keys gets 429
    for any key until its window has room (``KeyFailureThrottle``); the moment it trips is
    audited. If Redis cannot be reached, PostgreSQL decides, as without a cache."""

    keyword = "Bearer"

    def authenticate(self, request):
        # DRF's ``get_authorization_header`` reads it through ``request.headers``, which
        # builds a dictionary of every header first: the one header, read directly.
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if isinstance(header, bytes):  # as DRF allows (test clients)
            header = header.decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not secret.strip():
            raise exceptions.AuthenticationFailed(
                "Use the header 'Authorization: Bearer <API key>'.", code="malformed_api_key"
            )
        secret, failures = secret.strip(), KeyFailureThrottle()
        try:
            api_key = self.key_through_cache(request, secret, failures)
        except RedisError as exc:
            logger.warning("API key cache unreachable, reading PostgreSQL: %s", exc)
            api_key = self.key_from_database(request, secret, failures)
        if api_key.tenant.status == api_key.tenant.Status.SUSPENDED:
            raise exceptions.AuthenticationFailed(
                "This organization is suspended.", code="tenant_suspended"
            )
        return ApiKeyPrincipal(api_key), api_key

    def key_through_cache(self, request, secret: str, failures: KeyFailureThrottle) -> ApiKey:
        # The cache looked up once (a per-thread look-up behind a lock, each time).
        backend = redis_cache()
        if backend is None or not secret.startswith(API_KEY_PREFIX):
            return self.key_from_database(request, secret, failures)
        secret_hash = hash_secret(secret)
        place = keycache.slot(secret_hash, backend)
        admission = admit(
            request,
            backend=backend,
            throttles=self.view_throttles(request),
            key_hash=secret_hash,
            record_key=place.record,
            mark_key=place.mark,
            mark_seconds=settings.SANDBOX_API_KEY_LAST_USED_RESOLUTION,
        )
        if admission.wait is not None:
            raise exceptions.Throttled(admission.wait)
        api_key = keycache.load(secret_hash, admission.record)
        if api_key is None:
            api_key = self.key_from_database(request, secret, failures, checked=True)
            keycache.remember(place, admission.record, api_key)
        elif admission.marked:
            api_key_mark_used(api_key=api_key)
        return api_key

    def key_from_database(
        self, request, secret: str, failures: KeyFailureThrottle, *, checked: bool = False
    ) -> ApiKey:
        """The live key for ``secret`` from PostgreSQL; ``checked``: the key-failure window
        was already looked at."""
        if not checked and (wait := failures.check(request)) is not None:
            raise exceptions.Throttled(wait)
        api_key = api_key_authenticate(secret=secret)
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
        return api_key

    @staticmethod
    def view_throttles(request) -> list[Any]:
        # The view's limits are counted with the key's lookup if the view gives the counts
        # back when a permission refuses the request after all (``ApiView`` does).
        view = (request.parser_context or {}).get("view")
        if view is None or not getattr(view, "gives_back_counts", False):
            return []
        return view.get_throttles()

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
