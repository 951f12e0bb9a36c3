"""What the middleware does for API requests: a key request never touches the session
and passes the login and messages middlewares by, and a browser session calling the API
keeps its CSRF protection and its suspension check."""

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from sandbox.tenants.middleware import AuthenticationMiddleware, MessageMiddleware
from sandbox.tenants.models import Tenant
from tests.factories import NodeFactory
from tests.helpers import api_as, error_code

pytestmark = pytest.mark.django_db


def logged_in_with_key(party) -> APIClient:
    """A browser that is logged in to the dashboard and also sends the party's key."""
    client = api_as(party.owner)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {party.api_key}")
    return client


def test_an_api_key_request_never_loads_the_session_or_its_user(alice):
    NodeFactory(tenant=alice.tenant)
    client = logged_in_with_key(alice)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/nodes")

    assert response.status_code == 200
    assert response["Vary"] == "Cookie"  # the headers it always had
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "django_session" not in tables
    assert "auth_user" not in tables


def test_the_login_and_messages_middlewares_pass_an_api_key_request_by():
    factory, seen = RequestFactory(), []

    def view(request):
        seen.append((hasattr(request, "user"), hasattr(request, "_messages")))
        return HttpResponse()

    stack = AuthenticationMiddleware(MessageMiddleware(view))
    for request in (
        factory.get("/api/v1/nodes", HTTP_AUTHORIZATION="Bearer sk_test_x"),
        factory.get("/api/v1/nodes"),  # a browser session calling the API
        factory.get("/api/v1/nodes", HTTP_AUTHORIZATION=""),  # names no key: the session
        factory.get("/wallets/", HTTP_AUTHORIZATION="Bearer sk_test_x"),  # a page
    ):
        SessionMiddleware(stack)(request)

    assert seen == [(False, False), (True, True), (True, True), (True, True)]


def test_an_empty_authorization_header_leaves_a_browser_to_its_session(alice):
    node = NodeFactory(tenant=alice.tenant)
    client = api_as(alice.owner)
    client.credentials(HTTP_AUTHORIZATION="")

    response = client.get("/api/v1/nodes")

    assert response.status_code == 200
    assert [n["id"] for n in response.json()["results"]] == [str(node.pk)]


def test_an_api_key_request_is_judged_by_its_key_not_by_the_session(alice, outsider):
    outsider_node = NodeFactory(tenant=outsider.tenant)
    client = api_as(alice.owner)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {outsider.api_key}")

    listed = client.get("/api/v1/nodes")

    assert [node["id"] for node in listed.json()["results"]] == [str(outsider_node.pk)]


def test_a_suspended_tenants_key_is_refused_even_beside_a_live_session(alice, outsider):
    Tenant.objects.filter(pk=outsider.tenant.pk).update(status=Tenant.Status.SUSPENDED)
    client = api_as(alice.owner)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {outsider.api_key}")

    response = client.get("/api/v1/nodes")

    assert response.status_code == 401
    assert error_code(response) == "tenant_suspended"


def test_a_session_call_to_the_api_still_needs_its_csrf_token(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice.owner)
    body = {"name": "Seoul", "country": "KR", "base_currency": "KRW"}

    refused = client.post("/api/v1/nodes", body, format="json")
    assert client.get("/api/v1/nodes").status_code == 200  # reads need no token

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    assert not alice.tenant.nodes.exists()


def test_a_session_call_to_the_api_of_a_suspended_tenant_ends_the_session(alice):
    client = api_as(alice.owner)
    Tenant.objects.filter(pk=alice.tenant.pk).update(status=Tenant.Status.SUSPENDED)

    response = client.get("/api/v1/nodes")

    assert response.status_code == 403
    assert error_code(response) == "tenant_suspended"
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*"])
def test_clients_that_accept_json_get_json(alice, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = alice.api.get("/api/v1/nodes", **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_client_that_accepts_no_json_is_refused_as_before(alice):
    response = alice.api.get("/api/v1/nodes", HTTP_ACCEPT="text/html")

    assert response.status_code == 406
