"""The API's routes are resolved once per path (sandbox.api.resolving), with the answers
Django's own resolver gives, and each request still gets a match of its own."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, URLResolver, get_resolver, include, resolve
from django.urls.resolvers import RoutePattern

from sandbox.api.resolving import RememberingResolver


def djangos(path: str):
    """The match Django's resolver finds, walking the patterns anew."""
    urlconf_module, app_name, namespace = include("sandbox.api.urls")
    plain = URLResolver(
        RoutePattern("api/v1/", is_endpoint=False),
        urlconf_module,
        app_name=app_name,
        namespace=namespace,
    )
    return URLResolver(RoutePattern("/", is_endpoint=False), [plain]).resolve(path)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nodes", "/api/v1/transfers", "/api/v1/nodes/3d5c6704-ede7-4ee0-973d-543f886be4a0"],
)
def test_api_paths_resolve_as_django_resolves_them_and_each_request_gets_its_own_match(path):
    first, second = resolve(path), resolve(path)

    assert any(isinstance(p, RememberingResolver) for p in get_resolver().url_patterns)
    expected = djangos(path)
    for match in (first, second):
        assert match.func is expected.func
        assert (match.args, match.kwargs, match.route) == (
            expected.args,
            expected.kwargs,
            expected.route,
        )
        assert (match.url_name, match.view_name) == (expected.url_name, expected.view_name)
    assert first is not second and first.kwargs is not second.kwargs
    first.kwargs["changed"] = True
    assert "changed" not in resolve(path).kwargs


def test_a_path_that_matches_nothing_is_still_a_404():
    for _ in range(2):
        with pytest.raises(Resolver404):
            resolve("/api/v1/no-such-thing")
