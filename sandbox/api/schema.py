"""OpenAPI generation tuned to how our views are written (``sandbox.api.views``)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from sandbox.api.views import BODY_METHODS, QUERY_METHODS

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ErrorBodyDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="What went wrong, for programs: stable (`unknown_field`, `throttled`, "
        "`node_not_found`, `service_unavailable`, ...)."
    )
    message = serializers.CharField(help_text="What went wrong, for people.")
    # ``fields`` is the error body's key; DRF's metaclass moves declared fields off the
    # class, so ``Serializer.fields`` is not overridden at run time (the stubs cannot know).
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(),
        help_text="Per field or parameter, what is wrong with it (empty when none is).",
    )


class ErrorBodySerializer(serializers.Serializer):
    error = ErrorBodyDetailSerializer()


RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 1},
        "description": "Seconds to wait before trying again.",
    }
}

# Every error an operation may answer, with the error shape (sandbox.api.errors), and when.
ERRORS: dict[int, str] = {
    400: "Not valid: a field of the body, a query parameter, or the body itself (`code` and "
    "`fields` say which). Nothing was changed.",
    401: "No valid credentials: a missing, malformed, unknown or revoked API key, or a "
    "suspended organization.",
    403: "Not allowed: your role, your organization's status, operators only, or a "
    "session request without its CSRF token.",
    404: "Not found: no such object of yours (ids of other organizations are unknown too).",
    409: "Conflicts with the object's current state, or an `Idempotency-Key` reused with "
    "another request. Nothing was changed.",
    413: "The request body is too large.",
    415: "The body is not JSON (`Content-Type: application/json`).",
    422: "Well-formed, but a business rule refuses it (a balance, a limit, a status). "
    "Nothing was changed.",
    429: "Too many requests (per API key, per address, or failed key authentications from "
    "this address): wait `Retry-After` seconds.",
    503: "The database or the task queue is unavailable for a moment: nothing was changed; "
    "retry after `Retry-After` seconds (with the same `Idempotency-Key` for money).",
}

# Path parameters by name: ids are UUIDs unless listed here; a route converter's own type
# (``<int:...>``) wins. The view still judges the value: a malformed id is a 404.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "day": {"type": "string", "format": "date"},
    "job_id": {"type": "integer"},
    "window_id": {"type": "integer"},
    "token": {"type": "string"},
    "code": {"type": "string"},
}


def path_choices(name: str, choices: Iterable[str]) -> OpenApiParameter:
    """A path parameter that takes one of a few words (``{action}``), for
    ``extend_schema(parameters=[...])``."""
    return OpenApiParameter(name, str, OpenApiParameter.PATH, enum=list(choices))


class SandboxAutoSchema(AutoSchema):
    def get_request_serializer(self) -> Any:
        """The request body is the view's ``InputSerializer``, the same declaration that
        says which keys the view accepts; a view without one takes no body."""
        if self.method in BODY_METHODS:
            return getattr(self.view, "InputSerializer", None)
        return super().get_request_serializer()

    def get_override_parameters(self) -> list[Any]:
        """The query parameters are the view's ``FilterSerializer``, the same declaration
        that says which parameters the view accepts (``sandbox.api.views.check_query``)."""
        parameters = list(super().get_override_parameters())
        filters = getattr(self.view, "FilterSerializer", None)
        if filters is not None and self.method in QUERY_METHODS:
            parameters.insert(0, filters)
        return parameters

    def _resolve_path_parameters(self, variables: list[str]) -> list[dict[str, Any]]:
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["schema"] != {"type": "string"}:
                continue  # typed by the route's converter
            name = parameter["name"]
            if name in PATH_PARAMETERS:
                parameter["schema"] = dict(PATH_PARAMETERS[name])
            elif name.endswith("_id"):
                parameter["schema"] = {"type": "string", "format": "uuid"}
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        """The view's own responses, and every error it may answer (``error_statuses``),
        each with the error shape: documented once here, not on every view."""
        responses = super()._get_response_bodies(direction)
        error = self.resolve_serializer(ErrorBodySerializer, "response").ref
        for status in self.error_statuses():
            response: dict[str, Any] = {
                "description": ERRORS[status],
                "content": {"application/json": {"schema": error}},
            }
            if status in (429, 503):
                response["headers"] = RETRY_AFTER
            responses.setdefault(str(status), response)
        return responses

    def error_statuses(self) -> list[int]:
        """What any operation of this view can answer besides its own: 400 (a body or
        query parameter: ``ApiView`` checks both), 401 and 403 where it authenticates or
        restricts, 404 where a path parameter, a filter or a body names an object, 409
        and 422 on writes, 413 and 415 with a body, 429 (throttled) and 503 (outage)
        everywhere."""
        view, method = self.view, self.method
        statuses = {429, 503}
        if method in QUERY_METHODS or method in BODY_METHODS:
            statuses.add(400)
        authenticates = bool(getattr(view, "authentication_classes", ()))
        if authenticates:
            statuses.add(401)
        restricted = any(
            not issubclass(permission, AllowAny)
            for permission in getattr(view, "permission_classes", ())
        )
        if restricted or (authenticates and method in WRITE_METHODS):
            statuses.add(403)  # or a session write without its CSRF token
        names_objects = (
            "{" in self.path  # an id in the path
            or getattr(view, "FilterSerializer", None) is not None  # a filter by an object
            or (authenticates and method in BODY_METHODS)  # a body naming one of yours
        )
        if names_objects:
            statuses.add(404)
        if method in WRITE_METHODS:
            statuses.update({409, 422})
        if method in BODY_METHODS:
            statuses.update({413, 415})
        return sorted(statuses)

    # drf-spectacular's own AutoSchema narrows DRF's signature the same way.
    def get_description(self) -> str:  # type: ignore[override]
        """The handler's docstring, or else the view class's own: never one inherited from
        a base class, which speaks of internals, not of the endpoint."""
        handler = getattr(self.view, self.method.lower(), None)
        doc = getattr(handler, "__doc__", None) or type(self.view).__dict__.get("__doc__")
        return inspect.cleandoc(doc) if doc else ""

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        """Views nest their ``InputSerializer``/``OutputSerializer`` classes; name the
        schema components after the view (``NodeListApi.InputSerializer`` →
        ``NodeListInput``) so that equally named nested classes of different views do not
        collide."""
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." not in qualname or "<locals>" in qualname:
            return name
        owner, nested = qualname.split(".")[-2:]
        owner = owner.removesuffix("Api").removesuffix("View")
        nested = nested.removesuffix("Serializer")
        suffix = "Request" if name.endswith("Request") else ""
        return f"{owner}{nested}{suffix}"


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "sandbox.tenants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sk_test_...",
            "description": "A secret API key created in the dashboard.",
        }
