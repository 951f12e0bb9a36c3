"""Pages everyone in a tenant reads, whose forms only writers post: a viewer, or anyone in a
tenant that is not active, reads the page and is refused the post with 403, and nothing
changes (sandbox.tenants.views.require_writer)."""

from __future__ import annotations

import pytest
from django.test import Client

from sandbox.tenants.models import AuditLogEntry, Membership, Tenant
from tests.factories import MembershipFactory
from tests.helpers import web_as

pytestmark = pytest.mark.django_db

# Pages whose view reads for everyone and checks the writer itself on a POST.
PAGES = [
    "/nodes/",
    "/api-keys/",
    "/test-clocks/",
    "/bank/",
    "/bank/scenarios/",
    "/escrows/",
    "/payments/",
    "/settlement/",
    "/people/",
    "/remittances/",
    "/identities/social-links/",
]


@pytest.fixture
def viewer(alice) -> Client:
    return web_as(MembershipFactory(tenant=alice.tenant, role=Membership.Role.VIEWER).user)


@pytest.fixture
def suspended_owner(alice) -> Client:
    Tenant.objects.filter(pk=alice.tenant.pk).update(status=Tenant.Status.SUSPENDED)
    return web_as(alice.owner)


@pytest.mark.parametrize("path", PAGES)
def test_a_viewer_reads_the_page_but_cannot_post_its_form(viewer, path):
    assert viewer.get(path).status_code == 200
    entries = AuditLogEntry.objects.count()

    assert viewer.post(path, {"name": "Mallory's node"}).status_code == 403
    assert AuditLogEntry.objects.count() == entries


@pytest.mark.parametrize("path", ["/nodes/", "/payments/", "/people/", "/escrows/"])
def test_a_suspended_tenants_owner_cannot_post_either(suspended_owner, path):
    entries = AuditLogEntry.objects.count()

    assert suspended_owner.post(path, {"name": "Another node"}).status_code == 403
    assert AuditLogEntry.objects.count() == entries
