"""Every status an operation can answer is in the schema, with the error shape; path
parameters are typed. (schemathesis checks the running API against the same schema:
.ci/schemathesis.)"""

from __future__ import annotations

import base64

import pytest

from tests.api_schema import assert_matches_schema, operations, resolve_ref
from tests.conftest import RELAXED_THROTTLE_RATES
from tests.helpers import error_code

pytestmark = pytest.mark.django_db

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def test_every_operation_documents_throttling_and_outages_with_retry_after():
    for method, path, operation in operations():
        for status in ("429", "503"):
            response = operation["responses"].get(status)
            assert response, (method, path, status)
            assert response["content"]["application/json"]["schema"] == ERROR_BODY
            assert response["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_each_operation_documents_the_errors_its_shape_allows():
    for method, path, operation in operations():
        documented = set(operation["responses"])
        where = (method, path)
        if method in {"get", "post", "put", "patch"}:
            assert "400" in documented, where
        if "{" in path:
            assert "404" in documented, where
        if method in {"post", "put", "patch"}:
            assert {"413", "415", "409", "422"} <= documented, where
        if operation.get("security") and {} not in operation["security"]:
            assert {"401", "403"} <= documented, where


def test_public_operations_do_not_claim_credentials_errors():
    signup = dict(operations_by_path())[("post", "/api/v1/signup")]
    assert "401" not in signup["responses"]
    assert "403" not in signup["responses"]


def operations_by_path():
    return [((method, path), operation) for method, path, operation in operations()]


def test_the_error_shape_is_one_component():
    body = resolve_ref(ERROR_BODY)
    detail = resolve_ref(body["properties"]["error"])
    assert set(detail["required"]) == {"code", "message", "fields"}


def path_parameters() -> dict[tuple[str, str], dict]:
    return {
        (path, parameter["name"]): parameter["schema"]
        for _, path, operation in operations()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    }


def test_path_parameters_are_typed():
    typed = path_parameters()
    assert typed, "no path parameter at all?"
    for (path, name), schema in typed.items():
        assert schema != {"type": "string"} or name in {"token", "code"}, (path, name, schema)
    assert typed[("/api/v1/clearing/closes/{day}", "day")] == {"type": "string", "format": "date"}
    assert typed[("/api/v1/nodes/{node_id}", "node_id")] == {"type": "string", "format": "uuid"}
    assert typed[("/api/v1/operator/lockouts/{lockout_id}/lift", "lockout_id")]["type"] == "integer"
    tenant_action = typed[("/api/v1/operator/tenants/{tenant_id}/{action}", "action")]
    assert tenant_action["enum"] == ["approve", "reactivate", "suspend"]
    card_action = typed[("/api/v1/card_payments/{payment_id}/{action}", "action")]
    assert card_action["enum"] == ["cancel", "capture", "challenge", "refund"]


def test_real_errors_match_the_documented_shape(alice, anonymous, settings):
    not_found = alice.api.get("/api/v1/nodes/00000000-0000-4000-8000-000000000000")
    assert not_found.status_code == 404
    assert_matches_schema(not_found)

    unknown = alice.api.get("/api/v1/nodes?colour=red")
    assert unknown.status_code == 400 and error_code(unknown) == "parameter_unknown"
    assert_matches_schema(unknown)

    assert_matches_schema(anonymous.get("/api/v1/nodes"))  # 401

    # alice's key is new: its count starts here (never clear the cache other test
    # processes count in)
    settings.SANDBOX_THROTTLE_RATES = {**RELAXED_THROTTLE_RATES, "api_key": "1/minute"}
    alice.api.get("/api/v1/tenant")
    throttled = alice.api.get("/api/v1/tenant")
    assert throttled.status_code == 429
    assert_matches_schema(throttled)


@pytest.mark.parametrize("path", ["/api/v1/nodes", "/api/v1/api_keys", "/api/v1/events"])
def test_a_cursor_that_is_not_one_is_a_bad_parameter(alice, path):
    response = alice.api.get(path, {"cursor": "not-a-cursor"})

    assert response.status_code == 400 and error_code(response) == "invalid_cursor"
    assert_matches_schema(response)


@pytest.mark.parametrize("position", ["not a time", "2026-13-45 00:00:00+00:00"])
@pytest.mark.parametrize("path", ["/api/v1/nodes", "/api/v1/accounts", "/api/v1/events"])
def test_a_cursor_whose_position_is_not_a_time_is_a_bad_parameter(alice, path, position):
    forged = base64.b64encode(f"p={position}".encode()).decode()  # well formed, not ours

    response = alice.api.get(path, {"cursor": forged})

    assert response.status_code == 400 and error_code(response) == "invalid_cursor"
    assert_matches_schema(response)
