"""OpenAPI generation tuned to how our views are written."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class SandboxAutoSchema(AutoSchema):
    """Views nest their ``InputSerializer``/``OutputSerializer`` classes; name the schema
    components after the view (``NodeListApi.InputSerializer`` → ``NodeListInput``) so
    that equally named nested classes of different views do not collide."""

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
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
