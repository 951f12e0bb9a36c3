"""PostgreSQL holds an event's tenant and node: checked once per INSERT statement, and the
tenant or node that events name cannot be deleted (migration events 0005)."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from sandbox.events.models import Event
from sandbox.events.services import event_record
from sandbox.tenants.models import Node
from tests.factories import NodeFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_it_refuses_an_event_naming_a_missing_tenant_or_node():
    node = NodeFactory()
    with pytest.raises(IntegrityError, match=r"tenant_id .* is not present"), transaction.atomic():
        Event.objects.create(
            tenant_id=uuid.uuid4(), node=node, type="test.happened", occurred_at=timezone.now()
        )
    with pytest.raises(IntegrityError, match=r"node_id .* is not present"), transaction.atomic():
        Event.objects.create(
            tenant=node.tenant,
            node_id=uuid.uuid4(),
            type="test.happened",
            occurred_at=timezone.now(),
        )
    assert not Event.objects.filter(type="test.happened").exists()


def test_it_refuses_to_move_an_event_to_another_tenant_or_node():
    node, other = NodeFactory(), NodeFactory()
    event = Event.objects.create(
        tenant=node.tenant, node=node, type="test.happened", occurred_at=timezone.now()
    )
    with pytest.raises(IntegrityError, match="never change"), transaction.atomic():
        Event.objects.filter(pk=event.pk).update(node=other)


def test_it_refuses_to_delete_a_node_or_tenant_that_events_name_at_commit():
    tenant = TenantFactory()
    # A node with nothing else hanging off it (a node made by the service has a wallet).
    node = Node.objects.create(
        tenant=TenantFactory(), name="Bare", country="KR", base_currency="KRW"
    )
    with transaction.atomic():
        event_record(tenant=tenant, node=None, type="test.happened", obj=None)
        event_record(tenant=node.tenant, node=node, type="test.happened", obj=None)
    for table, pk in (("tenants_node", node.pk), ("tenants_tenant", tenant.pk)):
        with (
            pytest.raises(IntegrityError, match="still referenced"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what COMMIT would check


def test_deleting_a_tenant_through_django_takes_its_events_along():
    tenant = TenantFactory()
    with transaction.atomic():
        event_record(tenant=tenant, node=None, type="test.happened", obj=None)
    tenant.delete()
    assert not Event.objects.filter(type="test.happened").exists()
