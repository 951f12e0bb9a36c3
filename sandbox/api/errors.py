"""One error body everywhere: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from sandbox.errors import ApplicationError
from sandbox.outage import is_outage, retry_after_seconds, unavailable_body


def error_body(code: str, message: str, fields: Mapping[Any, Any] | None = None) -> dict[str, Any]:
    # ``Mapping[Any, Any]``: DRF's stubs type a ValidationError's detail with int keys too.
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _first_code(codes: Any) -> str:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        for value in codes.values():
            return _first_code(value)
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    return "invalid"


def request_too_large_body() -> dict[str, Any]:
    return error_body(
        "request_too_large",
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes; "
        "send it in smaller parts.",
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if is_outage(exc):
        # The database or the broker is gone: 503, and the transaction (if any) has
        # already rolled back with the service's atomic block.
        set_rollback()
        return Response(
            unavailable_body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(retry_after_seconds()), "Cache-Control": "no-store"},
        )
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        # Raised when a view reads request.body (``@idempotent`` does) past
        # DATA_UPLOAD_MAX_MEMORY_SIZE; Django alone would answer an HTML 400.
        return Response(request_too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(
            "validation_error" if isinstance(exc.detail, dict) else _first_code(exc.get_codes()),
            "Some fields are not valid.",
            detail,
        )
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        message = str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = error_body(_first_code(codes), message)
    return response


def json_bad_request(request, exception=None) -> JsonResponse:
    """Django's 400 (``handler400``) for /api/ paths: what it refused outside a DRF view,
    such as a disallowed Host or a body past DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(
            request_too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    return JsonResponse(
        error_body("bad_request", "The request could not be accepted as sent."),
        status=status.HTTP_400_BAD_REQUEST,
    )


def json_not_found(request, exception=None) -> JsonResponse:
    return JsonResponse(
        error_body("not_found", f"No endpoint at {request.path}."), status=status.HTTP_404_NOT_FOUND
    )


def json_server_error(request) -> JsonResponse:
    return JsonResponse(
        error_body("server_error", "Something went wrong on our side; nothing was changed."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
