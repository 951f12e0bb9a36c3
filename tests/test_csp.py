"""A strict Content-Security-Policy on every page: scripts and styles from our origin only,
nothing inline, no eval, no CDN, never framed; and no template that would need more.
(tests/browser checks the pages in chromium under the same policy.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from sandbox.contentpolicy import ContentSecurityPolicyMiddleware
from sandbox.outage import unavailable_response
from sandbox.throttles import throttled_page
from tests.helpers import web_as

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
NOBODYS_ID = "00000000-0000-4000-8000-000000000000"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def assert_strict(response, where) -> None:
    directives = policy(response)
    assert directives["script-src"] == ["'self'"], where
    assert directives["style-src"] == ["'self'"], where
    assert directives["default-src"] == ["'self'"], where
    assert directives["object-src"] == ["'none'"], where
    assert directives["frame-ancestors"] == ["'none'"], where
    assert "'unsafe-eval'" not in str(directives) and "https:" not in str(directives), where


def dashboard_routes() -> list[str]:
    """Every page outside the API and Django's admin, its path parameters filled with an id
    of nobody's (a 404 page is a page too)."""
    routes: list[str] = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if not route.startswith(("/api/", "/admin/")) and "(?P" not in route:
                    routes.append(PARAMETER.sub(NOBODYS_ID, route))

    walk(get_resolver().url_patterns, "/")
    return sorted(set(routes))


def test_every_dashboard_page_carries_the_policy_for_everyone(alice, operator):
    routes = dashboard_routes()
    assert len(routes) > 40 and "/operator/lockouts/" in routes

    for who, client in {
        "stranger": Client(),
        "owner": alice.web,
        "operator": web_as(operator),
    }.items():
        for route in routes:
            response = client.get(route)
            assert_strict(response, (who, route, response.status_code))


def test_the_admin_and_the_plain_pages_carry_it_too(admin_client):
    assert_strict(admin_client.get("/admin/"), "/admin/")
    assert_strict(admin_client.get("/admin/tenants/tenant/"), "/admin/tenants/tenant/")


def test_the_api_docs_allow_inline_styles_and_no_more():
    for path in ("/api/docs/", "/api/redoc/"):
        directives = policy(Client().get(path))
        assert directives["script-src"] == ["'self'"], path
        assert directives["style-src"] == ["'self'", "'unsafe-inline'"], path


def test_api_answers_carry_the_pages_policy_and_their_security_headers(alice, anonymous):
    for response in (alice.api.get("/api/v1/nodes"), anonymous.get("/api/v1/nodes")):
        assert_strict(response, response.status_code)
        assert response["Content-Security-Policy"] == build_policy()
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_the_policy_follows_the_settings_and_a_view_that_changes_it():
    # The settings' header is built once (sandbox.contentpolicy), yet never outlives them.
    stricter = {"DIRECTIVES": {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}}
    assert_strict(Client().get("/login/"), "/login/ before")
    with override_settings(CONTENT_SECURITY_POLICY=stricter):
        assert policy(Client().get("/login/")) == {
            "default-src": ["'none'"],
            "frame-ancestors": ["'none'"],
        }
    assert_strict(Client().get("/login/"), "/login/ after")

    def view(request):
        response = HttpResponse("x")
        response._csp_update = {"img-src": ["https://maps.example"]}  # as csp_update does
        return response

    response = ContentSecurityPolicyMiddleware(view)(RequestFactory().get("/"))
    assert policy(response)["img-src"] == ["'self'", "data:", "https://maps.example"]
    assert policy(ContentSecurityPolicyMiddleware(HttpResponse)(RequestFactory().get("/"))) == (
        policy(Client().get("/login/"))
    )


def test_the_429_and_503_pages_need_nothing_inline():
    for response in (throttled_page(5), unavailable_response(RequestFactory().get("/"))):
        assert (
            "style=" not in response.content.decode() and "<script" not in response.content.decode()
        )


class InlineFinder(HTMLParser):
    """Whatever the policy refuses: an inline script, an event handler or a style attribute,
    a style element, an external host."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"{name}= attribute")
            if name in {"src", "href"} and value and re.match(r"(https?:)?//", value):
                self.found.append(f"external {name}={value}")


@pytest.mark.parametrize(
    "template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html"))
)
def test_no_template_needs_an_inline_script_or_style(template):
    finder = InlineFinder()
    finder.feed((TEMPLATES / template).read_text())
    assert finder.found == [], template


def test_the_finder_finds_what_the_policy_refuses():
    finder = InlineFinder()
    finder.feed(
        '<script>x()</script><form onsubmit="go()"><p style="a"><style></style>'
        '<script src="https://cdn.example/htmx.js"></script><script src="/static/a.js"></script>'
    )
    assert finder.found == [
        "inline <script>",
        "onsubmit= attribute",
        "style= attribute",
        "<style>",
        "external src=https://cdn.example/htmx.js",
    ]
