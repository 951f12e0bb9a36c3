"""Every query parameter goes through one gate (``sandbox.api.views.check_query``), walked
over every GET operation of the generated schema: an unknown parameter is 400
``parameter_unknown`` naming the known ones, a NUL character in any documented string
parameter is 400, an empty or ``null`` value is 400 ``invalid_parameter``, and every
documented parameter is accepted. What the schema documents is what the view accepts: one
declaration (its ``FilterSerializer`` and its paginator) for both."""

from __future__ import annotations

import re
import uuid

import pytest
from rest_framework.test import APIClient

from sandbox.api.views import known_parameters
from tests.api_schema import api_views, operations
from tests.factories import MembershipFactory, NodeFactory, OperatorFactory, TenantFactory
from tests.helpers import error_code

UNKNOWN = "not_a_documented_parameter"


def get_operations() -> list[tuple[str, dict]]:
    return [(path, operation) for method, path, operation in operations() if method == "get"]


def query_parameters(operation: dict) -> dict[str, dict]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


def concrete(path: str) -> str:
    """Fill every {name} of a schema path with an id that belongs to nobody."""
    return re.sub(r"\{\w+\}", "00000000-0000-4000-8000-000000000000", path)


def a_value(parameter: dict) -> str:
    """A well-formed value for a documented parameter (it may match nothing)."""
    schema = parameter["schema"]
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "x"


@pytest.fixture
def anyone_allowed(db) -> APIClient:
    """An operator who also owns an active tenant: every endpoint lets them through."""
    operator = OperatorFactory()
    tenant = TenantFactory(name="Filter Co")
    MembershipFactory(tenant=tenant, user=operator)
    NodeFactory(tenant=tenant)
    client = APIClient()
    client.force_login(operator)
    return client


def test_the_walk_covers_every_list():
    paths = {path for path, _ in get_operations()}
    for listed in (
        "/api/v1/accounts",
        "/api/v1/events",
        "/api/v1/webhook_deliveries",
        "/api/v1/operator/tenants",
        "/api/v1/deposits",
        "/api/v1/withdrawals",
        "/api/v1/card_payments",
        "/api/v1/transactions",
        "/api/v1/clearing/closes",
        "/api/v1/clearing/settlements",
    ):
        assert listed in paths


@pytest.mark.parametrize("path,operation", get_operations(), ids=lambda value: str(value)[:80])
def test_the_documented_query_parameters_are_exactly_what_the_view_accepts(path, operation):
    view = api_views()[path]()
    assert set(query_parameters(operation)) == known_parameters(view), path


def test_every_paginated_list_knows_cursor_and_limit():
    for path, operation in get_operations():
        body = operation["responses"].get("200", {}).get("content", {})
        schema = next(iter(body.values()), {}).get("schema", {})
        if schema.get("$ref", "").startswith("#/components/schemas/Paginated"):
            assert {"cursor", "limit"} <= set(query_parameters(operation)), path


@pytest.mark.django_db
def test_every_get_refuses_an_unknown_parameter_naming_the_known_ones(anyone_allowed):
    for path, operation in get_operations():
        response = anyone_allowed.get(concrete(path), {UNKNOWN: "1"})
        assert response.status_code == 400, (path, response.status_code)
        assert error_code(response) == "parameter_unknown", (path, response.json())
        error = response.json()["error"]
        assert set(error["fields"]) == {UNKNOWN}, path
        for known in query_parameters(operation):
            assert known in error["message"], (path, known)


@pytest.mark.django_db
def test_every_documented_string_parameter_refuses_a_nul_character(anyone_allowed):
    walked = 0
    for path, operation in get_operations():
        for name, parameter in query_parameters(operation).items():
            if parameter["schema"].get("type") != "string":
                continue
            walked += 1
            response = anyone_allowed.get(concrete(path), {name: "a\x00b"})
            assert response.status_code == 400, (path, name, response.status_code)
            assert error_code(response) == "null_characters_not_allowed", (path, name)
            assert list(response.json()["error"]["fields"]) == [name], (path, name)
    assert walked >= 30


@pytest.mark.django_db
def test_every_documented_parameter_is_accepted(anyone_allowed):
    for path, operation in get_operations():
        parameters = query_parameters(operation)
        if not parameters:
            continue
        query = {name: a_value(parameter) for name, parameter in parameters.items()}
        query.pop("cursor", None)  # a cursor is only ever one the API handed out
        response = anyone_allowed.get(concrete(path), query)
        assert response.status_code < 500, (path, query, response.status_code)
        if response.status_code == 400:
            code = error_code(response)
            assert code not in ("parameter_unknown", "invalid_parameter"), (path, query, code)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["", "null"])
def test_an_empty_or_null_value_is_refused(anyone_allowed, value):
    for path, operation in get_operations():
        for name in query_parameters(operation):
            response = anyone_allowed.get(concrete(path), {name: value})
            assert response.status_code == 400, (path, name, value, response.status_code)
            assert error_code(response) == "invalid_parameter", (path, name, response.json())
            assert list(response.json()["error"]["fields"]) == [name], (path, name)


@pytest.mark.django_db
def test_a_misnamed_filter_no_longer_lists_everything(anyone_allowed):
    """``node_id`` is not the accounts filter (``node`` is): refused, not ignored."""
    response = anyone_allowed.get("/api/v1/accounts", {"node_id": str(uuid.uuid4())})
    assert response.status_code == 400
    assert error_code(response) == "parameter_unknown"
    assert "node" in response.json()["error"]["message"]
    assert anyone_allowed.get("/api/v1/accounts", {"limit": ""}).status_code == 400
    assert anyone_allowed.get("/api/v1/events", {"type": "a\x00b"}).status_code == 400
