"""Every tenant endpoint: no key → 401, outsider → 404 on alice's objects, never their data."""

import pytest

from tests.factories import NodeFactory
from tests.helpers import api_as, error_code

pytestmark = pytest.mark.django_db


def test_it_signs_up_registers_a_node_and_calls_the_api_with_a_fresh_key(anonymous):
    signup = anonymous.post(
        "/api/v1/signup",
        {
            "organization": "Kimchi Pay",
            "email": "ceo@kimchi.example",
            "password": "a-long-passphrase-1",
        },
        format="json",
    )
    assert signup.status_code == 201, signup.content
    key = signup.json()["api_key"]
    assert key.startswith("sk_test_")

    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    created = anonymous.post(
        "/api/v1/nodes", {"name": "Seoul", "country": "KR", "base_currency": "KRW"}, format="json"
    )
    assert created.status_code == 201, created.content
    listed = anonymous.get("/api/v1/nodes")
    assert [n["name"] for n in listed.json()["results"]] == ["Seoul"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/v1/tenant"),
        ("get", "/api/v1/nodes"),
        ("post", "/api/v1/nodes"),
        ("get", "/api/v1/api_keys"),
        ("post", "/api/v1/api_keys"),
        ("get", "/api/v1/members"),
        ("get", "/api/v1/invitations"),
        ("get", "/api/v1/audit_log"),
    ],
)
def test_it_refuses_requests_without_a_key(anonymous, method, path):
    response = getattr(anonymous, method)(path, {}, format="json")
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


def test_it_answers_404_for_another_tenants_node(alice, outsider):
    node = NodeFactory(tenant=alice.tenant)
    for response in (
        outsider.api.get(f"/api/v1/nodes/{node.pk}"),
        outsider.api.patch(f"/api/v1/nodes/{node.pk}", {"name": "pwned"}, format="json"),
        outsider.api.post(f"/api/v1/nodes/{node.pk}/deactivate"),
    ):
        assert response.status_code == 404
        assert error_code(response) == "node_not_found"
        assert "Node 0" not in response.content.decode()
    node.refresh_from_db()
    assert node.is_active and node.name != "pwned"


def test_it_rejects_malformed_and_revoked_keys(alice, anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Token abc")
    assert error_code(anonymous.get("/api/v1/nodes")) == "malformed_api_key"
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer sk_test_nope")
    assert error_code(anonymous.get("/api/v1/nodes")) == "invalid_api_key"

    key_id = alice.api.get("/api/v1/api_keys").json()["results"][0]["id"]
    assert alice.api.post(f"/api/v1/api_keys/{key_id}/revoke").status_code == 200
    response = alice.api.get("/api/v1/nodes")
    assert response.status_code == 401
    assert error_code(response) == "invalid_api_key"


def test_it_answers_api_404s_in_the_error_format(alice):
    response = alice.api.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] and body["broker"]["ok"]


def test_it_answers_404_for_another_tenants_keys_and_invitations(alice, outsider):
    key_id = alice.api.get("/api/v1/api_keys").json()["results"][0]["id"]
    invitation = api_as(alice.owner).post(
        "/api/v1/invitations", {"email": "new@alice.example", "role": "viewer"}, format="json"
    )
    invitation_id = invitation.json()["invitation"]["id"]

    assert error_code(outsider.api.post(f"/api/v1/api_keys/{key_id}/revoke")) == "apikey_not_found"
    outsider_owner = api_as(outsider.owner)
    refused = outsider_owner.post(f"/api/v1/invitations/{invitation_id}/revoke")
    assert error_code(refused) == "invitation_not_found"

    assert alice.api.get("/api/v1/nodes").status_code == 200  # alice's key still works
    listed = alice.api.get("/api/v1/invitations").json()["results"]
    assert listed[0]["revoked_at"] is None


def test_lists_never_show_another_tenants_objects(alice, outsider):
    NodeFactory(tenant=outsider.tenant, name="Outsider node")
    for path in ("/api/v1/nodes", "/api/v1/api_keys", "/api/v1/members", "/api/v1/audit_log"):
        body = alice.api.get(path).content.decode()
        assert "Outsider" not in body and str(outsider.tenant.pk) not in body, path
