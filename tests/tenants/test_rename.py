"""Owners rename their organization in the browser or the API; it is audited."""

import pytest

from sandbox.tenants.models import AuditLogEntry, Membership
from tests.factories import MembershipFactory
from tests.helpers import api_as, error_code

pytestmark = pytest.mark.django_db


def test_an_owner_renames_the_organization_through_the_api(alice):
    response = api_as(alice.owner).patch(
        "/api/v1/tenant", {"name": "  Alice Pay Korea "}, format="json"
    )
    assert response.status_code == 200 and response.json()["name"] == "Alice Pay Korea"
    alice.tenant.refresh_from_db()
    assert alice.tenant.name == "Alice Pay Korea"
    entry = AuditLogEntry.objects.get(action="tenant.renamed")
    assert entry.data == {"from": "Alice Pay", "to": "Alice Pay Korea"}


@pytest.mark.parametrize("name", ["   ", "x" * 121])
def test_a_bad_name_is_refused_and_changes_nothing(alice, name):
    response = api_as(alice.owner).patch("/api/v1/tenant", {"name": name}, format="json")
    assert (response.status_code, error_code(response)) == (400, "validation_error")
    assert "name" in response.json()["error"]["fields"]
    alice.tenant.refresh_from_db()
    assert alice.tenant.name == "Alice Pay"
    assert not AuditLogEntry.objects.filter(action="tenant.renamed").exists()


def test_only_owners_rename(alice):
    developer = MembershipFactory(tenant=alice.tenant, role=Membership.Role.DEVELOPER).user
    by_developer = api_as(developer).patch("/api/v1/tenant", {"name": "Mine now"}, format="json")
    by_key = alice.api.patch("/api/v1/tenant", {"name": "Mine now"}, format="json")
    assert (by_developer.status_code, by_key.status_code) == (403, 403)
    alice.tenant.refresh_from_db()
    assert alice.tenant.name == "Alice Pay"


def test_an_owner_renames_it_on_the_team_page(alice, client):
    client.force_login(alice.owner)
    response = client.post("/team/", {"rename": "1", "name": "Alice Pay Japan"}, follow=True)
    assert (
        response.status_code == 200 and "The organization is renamed." in response.content.decode()
    )
    alice.tenant.refresh_from_db()
    assert alice.tenant.name == "Alice Pay Japan"


def test_the_service_refuses_a_blank_name_whoever_calls_it(alice):
    from sandbox.errors import ApplicationError
    from sandbox.tenants.services import SYSTEM, tenant_rename

    with pytest.raises(ApplicationError) as refused:
        tenant_rename(tenant=alice.tenant, name="  ", actor=SYSTEM)
    assert refused.value.code == "name_required"
