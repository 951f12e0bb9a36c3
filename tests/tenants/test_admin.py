"""The Django admin is for browsing: every change that has rules (wallets, the URL guard,
the audit log) goes through the services, from the operator console or an admin action."""

import pytest
from django.db.models import ProtectedError

from sandbox.tenants.models import AuditLogEntry, Membership, Node, Tenant
from tests.factories import NodeFactory, TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(operator_web):
    return operator_web


def inline_management(prefix: str, total: int = 0, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_the_admin_refuses_to_add_nodes(admin_client, alice):
    response = admin_client.post(
        "/admin/tenants/node/add/",
        {"tenant": alice.tenant.pk, "name": "Raw", "country": "KR", "base_currency": "KRW"},
    )

    assert response.status_code == 403
    assert not Node.objects.exists()


def test_the_admin_refuses_to_change_a_node(admin_client, alice):
    node = NodeFactory(tenant=alice.tenant, webhook_url="https://hooks.example.com/in")
    entries = AuditLogEntry.objects.count()

    response = admin_client.post(
        f"/admin/tenants/node/{node.pk}/change/",
        {"name": node.name, "country": "KR", "webhook_url": "http://10.0.0.5/", "is_active": ""},
    )

    assert response.status_code == 403
    node.refresh_from_db()
    assert (node.is_active, node.webhook_url) == (True, "https://hooks.example.com/in")
    assert AuditLogEntry.objects.count() == entries


def test_the_admin_refuses_to_delete_nodes(admin_client, alice):
    node = NodeFactory(tenant=alice.tenant)
    response = admin_client.post(f"/admin/tenants/node/{node.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Node.objects.filter(pk=node.pk).exists()


def test_the_tenant_admin_adds_no_node_or_member_and_edits_no_role(admin_client, alice):
    owner = alice.tenant.memberships.get()
    entries = AuditLogEntry.objects.count()
    data = {
        "name": "Renamed",
        **inline_management("memberships", total=1, initial=1),
        "memberships-0-id": owner.pk,
        "memberships-0-tenant": alice.tenant.pk,
        "memberships-0-user": owner.user_id,
        "memberships-0-role": Membership.Role.VIEWER,
        **inline_management("nodes", total=1),
        "nodes-0-name": "Inline node",
        "nodes-0-country": "KR",
        "nodes-0-base_currency": "KRW",
        "nodes-0-is_active": "on",
    }

    response = admin_client.post(f"/admin/tenants/tenant/{alice.tenant.pk}/change/", data)

    assert response.status_code == 403
    assert not Node.objects.exists()
    assert alice.tenant.memberships.get().role == Membership.Role.OWNER
    assert Tenant.objects.get(pk=alice.tenant.pk).name == "Alice Pay"
    assert AuditLogEntry.objects.count() == entries


def test_the_admin_refuses_to_add_tenants(admin_client):
    response = admin_client.post("/admin/tenants/tenant/add/", {"name": "Raw"})
    assert response.status_code == 403
    assert not Tenant.objects.exists()


def test_tenants_cannot_be_deleted_from_the_admin_and_their_audit_log_stays(admin_client, alice):
    entries = AuditLogEntry.objects.filter(tenant=alice.tenant).count()
    assert entries > 0

    single = admin_client.post(f"/admin/tenants/tenant/{alice.tenant.pk}/delete/", {"post": "yes"})
    bulk = admin_client.post(
        "/admin/tenants/tenant/",
        {"action": "delete_selected", "_selected_action": [alice.tenant.pk], "post": "yes"},
    )

    assert single.status_code == 403
    assert bulk.status_code in (200, 302)  # "no such action": the list again, nothing done
    assert Tenant.objects.filter(pk=alice.tenant.pk).exists()
    assert AuditLogEntry.objects.filter(tenant=alice.tenant).count() == entries


def test_the_audit_log_outlives_any_attempt_to_delete_its_tenant(alice):
    with pytest.raises(ProtectedError):
        Tenant.objects.filter(pk=alice.tenant.pk).delete()
    assert AuditLogEntry.objects.filter(tenant=alice.tenant).exists()


def test_the_admin_is_still_for_browsing_and_points_to_the_console(admin_client, alice):
    node = NodeFactory(tenant=alice.tenant)
    pages = [
        "/admin/tenants/tenant/",
        f"/admin/tenants/tenant/{alice.tenant.pk}/change/",
        "/admin/tenants/node/",
        f"/admin/tenants/node/{node.pk}/change/",
        "/admin/tenants/auditlogentry/",
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert b'href="/operator/"' in response.content, page
    tenant_page = admin_client.get(f"/admin/tenants/tenant/{alice.tenant.pk}/change/")
    assert node.name.encode() in tenant_page.content


def test_operators_deactivate_nodes_from_the_admin_through_the_service(admin_client, alice):
    node = NodeFactory(tenant=alice.tenant)

    response = admin_client.post(
        "/admin/tenants/node/",
        {"action": "deactivate_nodes", "_selected_action": [node.pk]},
        REMOTE_ADDR="10.9.8.7",
    )

    assert response.status_code == 302
    node.refresh_from_db()
    assert not node.is_active and node.deactivated_at is not None
    entry = AuditLogEntry.objects.get(action="node.deactivated")
    assert (entry.tenant, entry.is_operator_action, entry.ip_address) == (
        alice.tenant,
        True,
        "10.9.8.7",
    )


def test_tenant_status_actions_in_the_admin_still_go_through_the_service(admin_client):
    tenant = TenantFactory(status=Tenant.Status.PENDING)

    admin_client.post(
        "/admin/tenants/tenant/", {"action": "approve_tenants", "_selected_action": [tenant.pk]}
    )

    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.ACTIVE
    assert AuditLogEntry.objects.get(action="tenant.approved").is_operator_action
