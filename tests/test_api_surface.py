"""Walks every route under /api/v1/: without credentials each one answers 401 in the
error format, so an endpoint added later cannot forget authentication."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Public on purpose: signing up, and accepting an invitation (its secret token is the credential).
PUBLIC_ENDPOINTS = {"/api/v1/signup", "/api/v1/invitations/<str:token>/accept"}
METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> list[tuple[str, type]]:
    routes = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
                routes.append((prefix + str(pattern.pattern), pattern.callback.cls))

    walk(get_resolver().url_patterns, "/")
    return [
        (route, view)
        for route, view in routes
        if route.startswith("/api/v1/") and route not in PUBLIC_ENDPOINTS
    ]


def concrete_path(route: str) -> str:
    """Fill every <converter:name> with an id that belongs to nobody (a number for int)."""
    parts, out = route.split("<"), []
    out.append(parts[0])
    for part in parts[1:]:
        parameter, _, rest = part.partition(">")
        nobodys = "999999999" if parameter.startswith("int:") else str(uuid.uuid4())
        out.append(nobodys + rest)
    return "".join(out)


@pytest.mark.django_db
@pytest.mark.parametrize("route,view", api_routes(), ids=lambda value: str(value))
def test_every_api_endpoint_requires_credentials(anonymous, route, view):
    path = concrete_path(route)
    methods = [m for m in METHODS if hasattr(view, m)]
    assert methods, f"{route} answers no method"
    for method in methods:
        response = getattr(anonymous, method)(path, {}, format="json")
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "not_authenticated"
