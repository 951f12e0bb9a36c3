"""Abuse limits: how often one API key, one address, or one address's signups, logins,
invitation acceptances and failed key authentications may come, per window.

Every limit is DRF's sliding-window throttle, for the API (``DEFAULT_THROTTLE_CLASSES``,
or a view's ``throttle_classes``) and for dashboard forms (``throttle_page``) alike, so a
refusal is always 429 with ``Retry-After``: in the API's error shape
(``{"error": {"code": "throttled", ...}}``) or as a plain page. The rates are settings
(``SANDBOX_THROTTLE_RATES``, read on each request so tests can relax them), and the
windows live in Django's cache: Redis when ``REDIS_URL`` is set, shared by every process;
otherwise local memory, one count per process (several web processes let a client through
that many times).

Repeated wrong passwords lock the account out for that address through django-axes
(``AXES_*`` settings, ``sandbox.tenants.lockouts``), not here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from rest_framework.throttling import SimpleRateThrottle

POST_ONLY = frozenset({"POST"})


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only, as the audit log records it: DRF would trust X-Forwarded-For from
    # anyone, and a client could then pick a new address per request.
    return request.META.get("REMOTE_ADDR") or "unknown"


def login_address(request: HttpRequest) -> str | None:
    """The address django-axes counts login failures by (``AXES_CLIENT_IP_CALLABLE``): the
    same as the throttles', None without one (axes stores it as an IP address)."""
    return request.META.get("REMOTE_ADDR") or None


class SandboxRateThrottle(SimpleRateThrottle):
    """A DRF throttle whose rate is ``SANDBOX_THROTTLE_RATES[scope]`` (None: no limit),
    counted per client address unless a subclass says otherwise."""

    scope: str
    num_requests: int  # set by DRF from the rate (None without one: then unused)
    duration: int

    def get_rate(self) -> str | None:
        return settings.SANDBOX_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Any) -> str:
        return client_address(request)

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AddressThrottle(SandboxRateThrottle):
    """Every API request, per client address (whoever is asking)."""

    scope = "address"


class ApiKeyThrottle(SandboxRateThrottle):
    """Every request authenticated by an API key, per key (from any address)."""

    scope = "api_key"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        api_key_id = getattr(getattr(request.user, "api_key", None), "pk", None)
        if api_key_id is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": api_key_id}


class SignupThrottle(SandboxRateThrottle):
    """Signups (API and dashboard), per client address."""

    scope = "signup"


class LoginThrottle(SandboxRateThrottle):
    """Login attempts (right or wrong), per client address: spraying many accounts from
    one address, which the per-account lockout alone would not stop."""

    scope = "login"


class InvitationAcceptThrottle(SandboxRateThrottle):
    """Invitation acceptances (API and dashboard), per client address."""

    scope = "invitation_accept"


class KeyFailureThrottle(SandboxRateThrottle):
    """Failed API key authentications, per client address. Unlike the others it counts
    only failures (``record``), but once over the limit it refuses every key
    authentication from that address (``check``), right keys included, until the window
    has room again: guessing must not go on beside a valid key."""

    scope = "key_failure"

    def check(self, request: Any) -> float | None:
        """Seconds to wait, or None when this address may try a key."""
        if self.rate is None:
            return None
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.wait()
        return None

    def record(self, request: Any) -> bool:
        """Count a failure; True when it used up the last one of the window."""
        if self.rate is None:
            return False
        if self.check(request) is not None:
            return False
        self.throttle_success()
        return len(self.history) >= self.num_requests


def retry_after(wait: float | None) -> int:
    return max(1, math.ceil(wait or 1))


def throttled_page(wait: float | None) -> HttpResponse:
    """The dashboard's 429: a plain page (no database needed) with ``Retry-After``."""
    seconds = retry_after(wait)
    response = HttpResponse(render_to_string("429.html", {"retry_after": seconds}), status=429)
    response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    return response


View = Callable[..., HttpResponseBase]


def throttle_page(
    *throttle_classes: type[SandboxRateThrottle], methods: frozenset[str] = POST_ONLY
) -> Callable[[View], View]:
    """Limit a dashboard view's ``methods`` requests (form posts by default: showing the
    form is free) with the API's throttles; over the limit it answers ``throttled_page``."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method in methods:
                waits = []
                for throttle_class in throttle_classes:
                    throttle = throttle_class()
                    if not throttle.allow_request(cast(Any, request), cast(Any, None)):
                        waits.append(throttle.wait())
                if waits:
                    return throttled_page(max((w or 0) for w in waits))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
