"""Request body size: small everywhere, large only where a valid request is large.

DATA_UPLOAD_MAX_MEMORY_SIZE has to fit the largest valid bulk transfer request (see
settings), but a limit that high on every path would let anyone post 100 MiB to the login
page. This middleware refuses, before anything reads the body, a declared length over
SANDBOX_MAX_BODY_BYTES on every other path.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from sandbox.api.errors import error_body

# Paths whose valid requests may be as large as DATA_UPLOAD_MAX_MEMORY_SIZE.
LARGE_BODY_PATHS = frozenset({"/api/v1/transfers/bulk"})


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.SANDBOX_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django itself treats a malformed length as none
        if length > limit and request.path not in LARGE_BODY_PATHS:
            message = f"The request body is larger than {limit:,} bytes."
            if request.path.startswith("/api/"):
                return JsonResponse(error_body("request_too_large", message), status=413)
            return HttpResponse(message, status=413, content_type="text/plain")
        return self.get_response(request)
