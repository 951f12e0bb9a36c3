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

import logging
import math
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from sandbox.cache import SandboxRedisCache

logger = logging.getLogger(__name__)

POST_ONLY = frozenset({"POST"})


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only, as the audit log records it: DRF would trust X-Forwarded-For from
    # anyone, and a client could then pick a new address per request.
    return request.META.get("REMOTE_ADDR") or "unknown"


def login_address(request: HttpRequest) -> str | None:
    """The address django-axes counts login failures by (``AXES_CLIENT_IP_CALLABLE``): the
    same as the throttles', None without one (axes stores it as an IP address)."""
    return request.META.get("REMOTE_ADDR") or None


# One window, in Lua: trim what left it, count, and (``take``) count one more if there is
# room. Answers {room (1/0), requests in the window (with the one taken), oldest time}.
WINDOW_FUNCTION = """
local function window(key, now, duration, limit, take, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - duration)
  local used = redis.call('ZCARD', key)
  local room = used < limit
  if room and take then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, math.ceil(duration * 1000))
    used = used + 1
  end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2] or ''
  return {room and 1 or 0, used, oldest}
end
"""

# KEYS[1] the window; ARGV: now, duration (s), limit, take (1/0), a unique member.
SLIDING_WINDOW = (
    WINDOW_FUNCTION
    + """
return window(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
              ARGV[4] == '1', ARGV[5])
"""
)


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
        counted = _counted(request).pop(self.key, None)
        if counted is not None:  # by the request's admission (``admit``), in its round trip
            self.now, self.used, self.oldest = counted.now, counted.used, counted.oldest
            return counted.room
        return self.look(take=True)

    def look(self, *, take: bool) -> bool:
        """Whether the window has room for one more request; with ``take``, count it."""
        self.now = self.timer()
        backend = redis_cache()  # DRF's ``cache`` is a proxy for the default cache
        if backend is not None:
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

    def admission_key(self, request: Any, key_hash: str) -> str | None:
        """The window a request with the API key of ``key_hash`` will count in, known
        before it is authenticated (for ``admit``); None: this throttle counts itself."""
        return self.get_cache_key(request, None)


class AddressThrottle(SandboxRateThrottle):
    """Every API request, per client address (whoever is asking)."""

    scope = "address"


class ApiKeyThrottle(SandboxRateThrottle):
    """Every request authenticated by an API key, per key (from any address)."""

    scope = "api_key"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        key_hash = getattr(getattr(request.user, "api_key", None), "secret_hash", None)
        return None if key_hash is None else self.admission_key(request, key_hash)

    def admission_key(self, request: Any, key_hash: str) -> str | None:
        # By the key's hash (one per key, as its id), which the request brings along.
        return self.cache_format % {"scope": self.scope, "ident": key_hash}


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


# --- Admission: an API key request's limits and its key's record, in one round trip -----

# KEYS: the key-failure window, the key's cached record, the mark of the key's last use, then
# the windows the request will count in. ARGV: now, a unique member, the key-failure
# duration and limit ('' for none), the mark's lifetime in ms ('0': mark every use), then a
# duration and a limit per window. A record whose first byte is '1' admits the request (a
# live key of an active tenant, see ``sandbox.tenants.keycache``): only then are its
# windows counted, each as ``allow_request`` would. Answers {key-failure room, used,
# oldest, the record or nil, marked (1/0), then room, used, oldest per window counted}.
ADMISSION = (
    WINDOW_FUNCTION
    + """
local now, member = tonumber(ARGV[1]), ARGV[2]
local guard = {1, 0, ''}
if ARGV[4] ~= '' then
  guard = window(KEYS[1], now, tonumber(ARGV[3]), tonumber(ARGV[4]), false, member)
  if guard[1] == 0 then return guard end
end
local record = redis.call('GET', KEYS[2])
local answer = {guard[1], guard[2], guard[3], record, 0}
if not record or string.sub(record, 1, 1) == '-' then return answer end
if ARGV[5] == '0' or redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[5]) then
  answer[5] = 1
end
if string.sub(record, 1, 1) == '1' then
  for i = 4, #KEYS do
    local at = 6 + 2 * (i - 4)
    local w = window(KEYS[i], now, tonumber(ARGV[at]), tonumber(ARGV[at + 1]), true, member)
    answer[#answer + 1] = w[1]
    answer[#answer + 1] = w[2]
    answer[#answer + 1] = w[3]
  end
end
return answer
"""
)

_COUNTED = "_sandbox_counted_windows"


@dataclass(frozen=True)
class CountedWindow:
    """A window ``admit`` counted a request in, as ``look`` would have left it."""

    now: float
    room: bool
    used: int
    oldest: float | None
    stored_key: str  # the window's name in Redis
    member: str  # the request's entry in it


@dataclass(frozen=True)
class Admission:
    wait: float | None  # the address guessed too many keys: seconds to wait (else None)
    record: bytes | None  # the key's cached record as stored (None: nothing cached)
    marked: bool  # the first use of the key in the mark's lifetime: record it


def _counted(request: Any) -> dict[str, CountedWindow]:
    return getattr(request, _COUNTED, None) or {}


def admit(
    request: Any,
    *,
    throttles: Sequence[Any],
    key_hash: str,
    record_key: str,
    mark_key: str,
    mark_seconds: int,
    backend: SandboxRedisCache | None = None,
) -> Admission:
    """One round trip (``ADMISSION``) before an API key request is authenticated: the
    key-failure window (looked at, as ``KeyFailureThrottle.check``), the key's record under
    ``record_key`` (stored keys), the mark of its use, and, when the record admits the
    request, the ``throttles``' windows (counted now; ``allow_request`` then reads the
    outcome instead of asking Redis). A request refused after all, by a permission, gives
    its counts back (``give_back``). Redis only: the caller checks ``redis_cache()`` (and
    may pass it as ``backend``)."""
    if backend is None:
        backend = redis_cache()
    assert backend is not None
    guard = KeyFailureThrottle()
    guard.key = guard.get_cache_key(request, None)
    windows = [
        (throttle, key)
        for throttle in throttles
        if isinstance(throttle, SandboxRateThrottle) and throttle.rate is not None
        if (key := throttle.admission_key(request, key_hash)) is not None
    ]
    now, member = guard.timer(), uuid.uuid4().hex
    args: list[Any] = [repr(now), member]
    args += [guard.duration, guard.num_requests] if guard.rate is not None else ["", ""]
    args.append(mark_seconds * 1000)
    stored_keys = [backend.make_key(key) for _, key in windows]
    for throttle, _ in windows:
        args += [throttle.duration, throttle.num_requests]
    answer = backend.script(ADMISSION)(
        keys=[backend.make_key(guard.key), record_key, mark_key, *stored_keys], args=args
    )
    room, guard.used, oldest = answer[:3]
    guard.now, guard.oldest = now, float(oldest) if oldest else None
    if not room:
        return Admission(wait=guard.wait(), record=None, marked=False)
    counted = {}
    for n, ((_, key), stored_key) in enumerate(zip(windows, stored_keys, strict=True)):
        if len(answer) < 8 + 3 * n:
            break  # the record did not admit the request: nothing was counted
        room, used, oldest = answer[5 + 3 * n : 8 + 3 * n]
        counted[key] = CountedWindow(
            now, bool(room), used, float(oldest) if oldest else None, stored_key, member
        )
    setattr(request, _COUNTED, counted)
    return Admission(wait=None, record=answer[3], marked=bool(answer[4]))


def give_back(request: Any) -> None:
    """Take a refused request out of the windows ``admit`` counted it in: a limit counts
    only the requests that got as far as DRF's throttles, as when each counted itself."""
    counted = [window for window in _counted(request).values() if window.room]
    setattr(request, _COUNTED, None)
    backend = redis_cache()
    if not counted or backend is None:
        return
    try:
        pipeline = backend.client().pipeline(transaction=False)
        for window in counted:
            pipeline.zrem(window.stored_key, window.member)
        pipeline.execute()
    except RedisError:  # the request is refused anyway; its count leaves with the window
        logger.warning("Could not give back a refused request's counts", exc_info=True)


def redis_cache() -> SandboxRedisCache | None:
    """The default cache when it is Redis (shared by every process), else None."""
    backend = caches["default"]
    return backend if isinstance(backend, SandboxRedisCache) else None


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
