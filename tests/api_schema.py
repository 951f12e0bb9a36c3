"""The generated OpenAPI schema, as tests read it: every operation with its view, and a
strict check of a real response against what the schema documents for it."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import jsonschema
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")
BODY_METHODS = ("post", "put", "patch")


@functools.cache
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def schema_path(route: str) -> str:
    """``/api/v1/nodes/<str:node_id>`` → ``/api/v1/nodes/{node_id}``, as the schema has it."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


@functools.cache
def api_views() -> dict[str, type]:
    """Every API route's view class, by its schema path."""
    views: dict[str, type] = {}

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
                route = prefix + str(pattern.pattern)
                if route.startswith("/api/v1/"):
                    views[schema_path(route)] = pattern.callback.cls

    walk(get_resolver().url_patterns, "/")
    return views


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation of the schema."""
    return [
        (method, path, operation)
        for path, item in schema()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def resolve_ref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        node = schema()["components"]["schemas"][name]
    return node


def request_properties(operation: dict[str, Any]) -> set[str] | None:
    """The documented request body's keys; None when the operation documents no body."""
    body = operation.get("requestBody")
    if body is None:
        return None
    return set(resolve_ref(body["content"]["application/json"]["schema"]).get("properties", {}))


def _strict(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema, strictly: ``nullable`` becomes a null alternative, and an
    object with documented properties accepts no other key."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    # oneOf → anyOf: drf-spectacular writes a blank-allowed URL as "a URL, or empty", and
    # without a URI format checker "" passes both.
    node = {("anyOf" if key == "oneOf" else key): _strict(value) for key, value in node.items()}
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def response_schema(method: str, path: str, status: int) -> dict[str, Any]:
    operation = schema()["paths"][path][method]
    documented = operation["responses"].get(str(status))
    assert documented is not None, f"{method.upper()} {path} documents no {status}"
    body = documented["content"]["application/json"]["schema"]
    return {**_strict(body), "components": _strict(copy.deepcopy(schema()["components"]))}


def assert_matches_schema(response, method: str = "get") -> Any:
    """The response's JSON is exactly what the schema documents for its operation and
    status: no undocumented key, no missing required one, every type as documented."""
    match = resolve(response.wsgi_request.path)
    path = schema_path("/" + match.route)
    body = response.json()
    jsonschema.validate(
        body,
        response_schema(method, path, response.status_code),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    return body
