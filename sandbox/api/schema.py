"""OpenAPI generation tuned to how our views are written (``sandbox.api.views``)."""

from __future__ import annotations

import inspect
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from sandbox.api.views import BODY_METHODS, QUERY_METHODS


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
