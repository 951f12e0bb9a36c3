"""One error type for business rules, mapped to HTTP once (``sandbox.api.errors``)."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refusal the client can act on: a stable ``code`` and a human ``message``."""

    status_code = 400
    default_code = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}
        if status_code is not None:
            self.status_code = status_code


class NotFound(ApplicationError):
    status_code = 404
    default_code = "not_found"


class Forbidden(ApplicationError):
    status_code = 403
    default_code = "forbidden"


class Conflict(ApplicationError):
    status_code = 409
    default_code = "conflict"


class Unprocessable(ApplicationError):
    """The request is well-formed but a business condition refuses it (balance, state)."""

    status_code = 422
    default_code = "unprocessable"
