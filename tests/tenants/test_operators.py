"""Operators see who is in the sandbox and let them in or out; everything is audited."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sandbox.tenants.models import AuditLogEntry, PlatformSettings, Tenant
from tests.factories import NodeFactory, TenantFactory
from tests.helpers import api_as, error_code

pytestmark = pytest.mark.django_db


def suspend(operator_api, tenant):
    return operator_api.post(
        f"/api/v1/operator/tenants/{tenant.pk}/suspend", {"reason": "abuse"}, format="json"
    )


def test_suspension_cuts_api_keys_at_once(alice, operator_api):
    assert alice.api.get("/api/v1/nodes").status_code == 200

    assert suspend(operator_api, alice.tenant).status_code == 200

    response = alice.api.get("/api/v1/nodes")
    assert response.status_code == 401
    assert error_code(response) == "tenant_suspended"


def test_suspension_ends_dashboard_sessions_on_the_next_request(alice, client, operator_api):
    client.force_login(alice.owner)
    assert client.get("/").status_code == 200

    suspend(operator_api, alice.tenant)

    response = client.get("/")
    assert response.status_code == 403
    assert b"suspended" in response.content
    assert client.get("/").status_code == 302  # logged out: back to the login page


def test_reactivation_restores_access(alice, operator_api):
    suspend(operator_api, alice.tenant)
    response = operator_api.post(f"/api/v1/operator/tenants/{alice.tenant.pk}/reactivate")
    assert response.json()["status"] == "active"
    assert alice.api.get("/api/v1/nodes").status_code == 200


def test_operators_approve_pending_tenants_but_not_twice(operator_api):
    tenant = TenantFactory(status=Tenant.Status.PENDING)
    assert operator_api.post(f"/api/v1/operator/tenants/{tenant.pk}/approve").status_code == 200
    again = operator_api.post(f"/api/v1/operator/tenants/{tenant.pk}/approve")
    assert again.status_code == 409
    assert error_code(again) == "invalid_status_transition"


def test_unknown_tenants_and_actions_are_clear_errors(operator_api):
    assert (
        error_code(operator_api.post("/api/v1/operator/tenants/not-a-uuid/suspend"))
        == "tenant_not_found"
    )
    tenant = TenantFactory()
    assert (
        error_code(operator_api.post(f"/api/v1/operator/tenants/{tenant.pk}/explode"))
        == "invalid_action"
    )


def test_tenants_cannot_use_operator_endpoints(alice):
    for response in (
        alice.api.get("/api/v1/operator/tenants"),
        api_as(alice.owner).get("/api/v1/operator/tenants"),
        api_as(alice.owner).post(f"/api/v1/operator/tenants/{alice.tenant.pk}/suspend"),
    ):
        assert response.status_code == 403
    assert Tenant.objects.get(pk=alice.tenant.pk).status == Tenant.Status.ACTIVE


def test_the_operator_page_lists_tenants_with_status_node_count_and_activity(
    client, operator, alice
):
    NodeFactory(tenant=alice.tenant)
    NodeFactory(tenant=alice.tenant)
    client.force_login(operator)

    page = client.get("/operator/")

    assert page.status_code == 200
    row = page.context["tenants"].get(pk=alice.tenant.pk)
    assert row.node_count == 2 and row.last_activity_at is not None
    assert b"Alice Pay" in page.content


def test_the_operator_page_suspends_with_htmx(client, operator, alice):
    client.force_login(operator)
    response = client.post(
        f"/operator/tenants/{alice.tenant.pk}/suspend/",
        {"reason": "Card testing"},
        HTTP_HX_REQUEST="true",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 200
    assert b"Reactivate" in response.content
    entry = AuditLogEntry.objects.get(action="tenant.suspended")
    assert (entry.actor_user, entry.ip_address, entry.is_operator_action) == (
        operator,
        "10.1.2.3",
        True,
    )


def test_the_operator_console_is_for_operators_only(client, alice):
    client.force_login(alice.owner)
    assert client.get("/operator/").status_code == 302
    assert client.post(f"/operator/tenants/{alice.tenant.pk}/suspend/").status_code == 302
    assert Tenant.objects.get(pk=alice.tenant.pk).status == Tenant.Status.ACTIVE


def test_each_tenant_sees_only_its_own_audit_entries(alice, outsider, operator_api):
    suspend(operator_api, outsider.tenant)
    actions = {e["action"] for e in alice.api.get("/api/v1/audit_log").json()["results"]}
    assert "api_key.created" in actions
    assert "tenant.suspended" not in actions

    operator_actions = {
        e["action"] for e in operator_api.get("/api/v1/operator/audit_log").json()["results"]
    }
    assert {"api_key.created", "tenant.suspended"} <= operator_actions


def test_key_creation_and_revocation_are_audited_with_the_address(alice):
    created = alice.api.post(
        "/api/v1/api_keys", {"name": "deploy"}, format="json", REMOTE_ADDR="192.0.2.7"
    )
    alice.api.post(
        f"/api/v1/api_keys/{created.json()['api_key']['id']}/revoke", REMOTE_ADDR="192.0.2.8"
    )

    entries = AuditLogEntry.objects.filter(tenant=alice.tenant, target_label__startswith="deploy")
    assert {(e.action, e.ip_address) for e in entries} == {
        ("api_key.created", "192.0.2.7"),
        ("api_key.revoked", "192.0.2.8"),
    }


def test_admin_pages_never_show_key_secrets(client, operator, alice):
    client.force_login(operator)
    key = alice.tenant.api_keys.get()
    page = client.get(f"/admin/tenants/apikey/{key.pk}/change/")
    assert page.status_code == 200
    assert key.secret_hash.encode() not in page.content
    assert alice.api_key.encode() not in page.content


def test_the_operator_audit_log_filters_by_tenant(client, operator, alice, outsider):
    client.force_login(operator)
    page = client.get(f"/operator/audit-log/?tenant={alice.tenant.pk}")
    assert {e.tenant_id for e in page.context["entries"]} == {alice.tenant.pk}
    assert client.get("/operator/audit-log/?tenant=nonsense").status_code == 404


def test_the_operator_audit_log_api_filters_by_tenant(alice, outsider, operator_api):
    suspend(operator_api, outsider.tenant)

    response = operator_api.get(f"/api/v1/operator/audit_log?tenant={alice.tenant.pk}")

    assert response.status_code == 200
    ids = {e["id"] for e in response.json()["results"]}
    assert ids == set(
        AuditLogEntry.objects.filter(tenant=alice.tenant).values_list("id", flat=True)
    )


def test_a_malformed_or_unknown_tenant_filter_is_a_clear_error(operator_api):
    malformed = operator_api.get("/api/v1/operator/audit_log?tenant=nonsense")
    assert malformed.status_code == 400
    assert error_code(malformed) == "validation_error"
    assert set(malformed.json()["error"]["fields"]) == {"tenant"}

    unknown = operator_api.get(f"/api/v1/operator/audit_log?tenant={uuid.uuid4()}")
    assert unknown.status_code == 404
    assert error_code(unknown) == "tenant_not_found"


# --- Platform settings -----------------------------------------------------------------------


def test_operators_read_and_change_the_new_tenant_status_through_the_api(operator, operator_api):
    assert operator_api.get("/api/v1/operator/settings").json()["new_tenant_status"] == "active"

    response = operator_api.put(
        "/api/v1/operator/settings",
        {"new_tenant_status": "pending"},
        format="json",
        REMOTE_ADDR="10.4.5.6",
    )

    assert response.status_code == 200
    assert response.json()["new_tenant_status"] == "pending"
    assert PlatformSettings.load().new_tenant_status == Tenant.Status.PENDING
    entry = AuditLogEntry.objects.get(action="platform.settings_changed")
    assert (entry.actor_user, entry.is_operator_action, entry.ip_address, entry.data) == (
        operator,
        True,
        "10.4.5.6",
        {"new_tenant_status": "pending"},
    )


@pytest.mark.parametrize("body", [{"new_tenant_status": "suspended"}, {}])
def test_a_bad_new_tenant_status_is_a_400_and_changes_nothing(operator_api, body):
    response = operator_api.put("/api/v1/operator/settings", body, format="json")

    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert set(response.json()["error"]["fields"]) == {"new_tenant_status"}
    assert PlatformSettings.load().new_tenant_status == Tenant.Status.ACTIVE
    assert not AuditLogEntry.objects.filter(action="platform.settings_changed").exists()


def test_tenants_cannot_read_or_change_the_platform_settings(alice):
    for client in (alice.api, api_as(alice.owner)):
        assert error_code(client.get("/api/v1/operator/settings")) == "operator_only"
        refused = client.put(
            "/api/v1/operator/settings", {"new_tenant_status": "pending"}, format="json"
        )
        assert refused.status_code == 403
    assert PlatformSettings.load().new_tenant_status == Tenant.Status.ACTIVE


# --- Last activity -----------------------------------------------------------------------------


def test_last_activity_counts_api_use_as_well_as_the_audit_log(alice, outsider, client, operator):
    long_ago = timezone.now() - timedelta(days=10)
    AuditLogEntry.objects.update(created_at=long_ago)
    before_use = timezone.now()

    assert alice.api.get("/api/v1/tenant").status_code == 200  # a read: no audit entry

    key_used_at = alice.tenant.api_keys.get().last_used_at
    assert key_used_at >= before_use
    client.force_login(operator)
    rows = {
        row["id"]: parse_datetime(row["last_activity_at"])
        for row in api_as(operator).get("/api/v1/operator/tenants").json()["results"]
    }
    console = client.get("/operator/").context["tenants"]
    for last_activity in (
        rows[str(alice.tenant.pk)],
        console.get(pk=alice.tenant.pk).last_activity_at,
    ):
        assert last_activity == key_used_at
    for last_activity in (
        rows[str(outsider.tenant.pk)],
        console.get(pk=outsider.tenant.pk).last_activity_at,
    ):
        assert last_activity == long_ago  # its key was never used: the audit log decides


def test_a_tenant_without_activity_has_no_last_activity(operator_api):
    tenant = TenantFactory()
    rows = operator_api.get("/api/v1/operator/tenants").json()["results"]
    assert [row["last_activity_at"] for row in rows if row["id"] == str(tenant.pk)] == [None]


@pytest.mark.django_db(transaction=True)
def test_a_status_change_commits_with_its_audit_entry_outside_a_test_transaction(
    alice, operator_api
):
    # The service locks the tenant row: it must open its own transaction (autocommit here).
    assert suspend(operator_api, alice.tenant).status_code == 200
    alice.tenant.refresh_from_db()
    assert alice.tenant.status == Tenant.Status.SUSPENDED
    assert AuditLogEntry.objects.filter(tenant=alice.tenant, action__contains="suspend").exists()
