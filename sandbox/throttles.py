"""Abuse limits: how often one API key, one address, or one address's signups, logins,
invitation acceptances and failed key authentications may come, per window.

Every limit is a sliding window behind DRF's throttle interface, for the API
(``DEFAULT_THROTTLE_CLASSES``, or a view's ``throttle_classes``) and for dashboard forms
(``throttle_page``) alike, so a refusal is always 429 with ``Retry-After``: in the API's
error shape
(``{"error": {"code": "throttled", ...}}``) or as a plain page. The rates are settings
(``SANDBOX_THROTTLE_RATES``, read on each request so tests can relax them), and the
windows live in Django's cache. With Redis (``REDIS_URL``), shared by every process, a window
is a sorted set of request times that one Lua script trims, counts and extends: one round
trip per limit, and atomic, where DRF's read-modify-write of a pickled list would let two
processes that read it together both through and lose one of their counts. Otherwise, in
local memory, it is DRF's list, one count per process (several web processes let a client
through that many times).

Repeated wrong passwords lock the account out for that address through django-axes
(``AXES_*`` settings, ``sandbox.tenants.lockouts``), not here.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from rest_framework.throttling import SimpleRateThrottle

from sandbox.cache import SandboxRedisCache

POST_ONLY = frozenset({"POST"})


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only, as the audit log records it: DRF would trust X-Forwarded-For from
    # anyone, and a client could then pick a new address per request.
    return request.META.get("REMOTE_ADDR") or "unknown"


def login_address(request: HttpRequest) -> str | None:
    """The address django-axes counts login failures by (``AXES_CLIENT_IP_CALLABLE``): the
    same as the throttles', None without one (axes stores it as an IP address)."""
    return request.META.get("REMOTE_ADDR") or None


# KEYS[1] the window; ARGV: now, duration (s), limit, take (1/0), a unique member.
# Answers {taken or room (1/0), requests in the window (with the one taken), oldest time}.
SLIDING_WINDOW = """
local key, now, duration, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
local used = redis.call('ZCARD', key)
local room = used < limit
if room and ARGV[4] == '1' then
  redis.call('ZADD', key, now, ARGV[5])
  redis.call('PEXPIRE', key, math.ceil(duration * 1000))
  used = used + 1
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2] or ''
return {room and 1 or 0, used, oldest}
"""


LOCAL_WINDOWS = threading.Lock()


class SandboxRateThrottle(SimpleRateThrottle):
    """A DRF throttle whose rate is ``SANDBOX_THROTTLE_RATES[scope]`` (None: no limit),
    counted per client address unless a subclass says otherwise."""

    scope: str
    num_requests: int  # set by DRF from the rate (None without one: then unused)
    duration: int
    used: int = 0  # requests in the window, after the last look
    oldest: float | None = None  # the time of the window's oldest request

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        return self.look(take=True)

    def look(self, *, take: bool) -> bool:
        """Whether the window has room for one more request; with ``take``, count it."""
        self.now = self.timer()
        backend = caches["default"]  # DRF's ``cache`` is a proxy: this is what it stands for
        if isinstance(backend, SandboxRedisCache):
            script = backend.script(SLIDING_WINDOW)
            room, self.used, oldest = script(
                keys=[backend.make_and_validate_key(self.key)],
                args=[
                    repr(self.now),
                    self.duration,
                    self.num_requests,
                    int(take),
                    uuid.uuid4().hex,
                ],
            )
            self.oldest = float(oldest) if oldest else None
            return bool(room)
        with LOCAL_WINDOWS:  # the threads of this process take turns at the list
            self.history = self.cache.get(self.key, [])
            while self.history and self.history[-1] <= self.now - self.duration:
                self.history.pop()
            room = len(self.history) < self.num_requests
            if room and take:
                self.throttle_success()
        self.used, self.oldest = len(self.history), (self.history[-1] if self.history else None)
        return room

    def wait(self) -> float | None:
        """DRF's advice: the window's remaining time, shared among the requests it has left."""
        remaining = self.duration - (self.now - self.oldest) if self.oldest else self.duration
        available = self.num_requests - self.used + 1
        return remaining / available if available > 0 else None

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
        return None if self.look(take=False) else self.wait()

    def record(self, request: Any) -> bool:
        """Count a failure; True when it used up the last one of the window."""
        if self.rate is None:
            return False
        self.key = self.get_cache_key(request, None)
        return self.look(take=True) and self.used >= self.num_requests


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
