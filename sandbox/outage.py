"""Safe failure: a lost database or broker answers 503 with ``Retry-After``, never a 500.

``is_outage(exc)`` says whether an exception means "a backing service is gone" (the
connection to the database or the broker failed), as opposed to an error of ours or a
conflict the ledger retries (lock timeout, serialization failure, deadlock). The API's
exception handler (``sandbox.api.errors``) and ``ServiceUnavailableMiddleware`` (every
other path, including errors raised by other middlewares such as sessions and
authentication) both answer through ``unavailable_response``: JSON in the error shape
(code ``service_unavailable``) under ``/api/``, a small static HTML page elsewhere, with
``Retry-After: SANDBOX_RETRY_AFTER_SECONDS``. Nothing here touches the database.

Money paths lose nothing: the exception has already left the service's ``atomic`` block,
which rolled the transaction back, before anything answers.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from kombu.exceptions import OperationalError as BrokerOperationalError

logger = logging.getLogger(__name__)

# PostgreSQL SQLSTATEs that mean the database cannot serve us now: 08xxx connection
# exceptions, 57P01-57P03 administrator/crash shutdown, cannot connect now, and 53300 too
# many connections (a slot frees up soon: retry later, as after a loss).
_LOST_SQLSTATE_PREFIXES = ("08", "57P01", "57P02", "57P03", "53300")
# SQLite error names that mean the file cannot be reached, not that a row is locked.
_LOST_SQLITE_ERRORS = {"SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_NOTADB", "SQLITE_CORRUPT"}
_OUTAGE_ATTRIBUTE = "_sandbox_outage"

try:  # the Redis client is there whenever the broker or the cache is Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    _BROKER_ERRORS: tuple[type[BaseException], ...] = (
        BrokerOperationalError,
        RedisConnectionError,
        RedisTimeoutError,
    )
except ImportError:  # pragma: no cover
    _BROKER_ERRORS = (BrokerOperationalError,)


def _database_lost(exc: OperationalError | InterfaceError) -> bool:
    if isinstance(exc, InterfaceError):  # "connection already closed" and the like
        return True
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate:  # PostgreSQL said why: only connection classes are an outage
        return str(sqlstate).startswith(_LOST_SQLSTATE_PREFIXES)
    if isinstance(cause, sqlite3.Error):
        return getattr(cause, "sqlite_errorname", "") in _LOST_SQLITE_ERRORS
    if cause is not None:
        # The driver's error without a SQLSTATE: it could not talk to the server at all
        # (refused, reset, "server closed the connection unexpectedly", connect timeout).
        return True
    # Raised by Django or by hand, with no driver error behind it: judge by the words.
    message = str(exc).lower()
    return not any(word in message for word in ("lock", "deadlock", "serializ", "timeout"))


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the database or the broker cannot be reached."""
    if isinstance(exc, OperationalError | InterfaceError):
        return _database_lost(exc)
    return isinstance(exc, _BROKER_ERRORS)


def retry_after_seconds() -> int:
    return int(getattr(settings, "SANDBOX_RETRY_AFTER_SECONDS", 30))


MESSAGE = "The service is briefly unavailable; nothing was changed. Try again shortly."


def unavailable_body() -> dict[str, Any]:
    return {"error": {"code": "service_unavailable", "message": MESSAGE, "fields": {}}}


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 for ``request``: JSON under /api/, else the static ``503.html`` (rendered
    without a request, so no context processor runs and nothing reads the database)."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(unavailable_body(), status=503)
    else:
        html = render_to_string("503.html", {"retry_after": retry_after_seconds()})
        response = HttpResponse(html, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(retry_after_seconds())
    response["Cache-Control"] = "no-store"
    return response


def log_outage(request: HttpRequest, exc: BaseException) -> None:
    # One line, no traceback: the cause is outside the code.
    logger.warning(
        "Service unavailable on %s %s: %s: %s",
        request.method,
        request.path,
        type(exc).__name__,
        str(exc)[:200],
    )


def _remember_outage(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Django turns an exception raised inside any middleware into a 500 (or the debug
    page) before the next middleware out sees it; this receiver notes on the request that
    the exception was an outage, so ``ServiceUnavailableMiddleware`` can replace it."""
    exc = sys.exc_info()[1]
    if request is not None and exc is not None and is_outage(exc):
        setattr(request, _OUTAGE_ATTRIBUTE, exc)


got_request_exception.connect(_remember_outage, dispatch_uid="sandbox.outage")


class ServiceUnavailableMiddleware:
    """First in MIDDLEWARE: every outage, wherever it was raised, becomes a 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        exc = getattr(request, _OUTAGE_ATTRIBUTE, None)
        if exc is not None and response.status_code >= 500:
            return unavailable_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_outage(exception):
            return None
        log_outage(request, exception)
        return unavailable_response(request)
