"""The events and webhook deliveries lists answer what DRF's own path answered, byte for
byte, page after page: the events through their presenter (``event_as_json``) without a
list serializer, the deliveries from their rows' own columns (their event and node by id,
the node not even read), as before."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.mixins import ListModelMixin

from sandbox.api.views import ListApiView, OutputModelSerializer
from sandbox.events import selectors
from sandbox.events.models import WebhookDelivery
from sandbox.events.services import event_record
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliveries(alice):
    """Events with unicode and nested data, null and set optional fields, two nodes."""
    now = timezone.now()
    for n, node in enumerate(
        [
            NodeFactory(tenant=alice.tenant, webhook_url="https://hooks.example.com/in"),
            NodeFactory(tenant=alice.tenant, country="JP"),
        ]
    ):
        for i in range(4):
            event = event_record(
                tenant=alice.tenant,
                node=node,
                type="deposit.credited" if i % 2 else "transfer.posted",
                data={"memo": 'é ☃ 한 "q" \\', "amount": {"amount": f"{i}.50"}, "n": [i, None]},
            )
            WebhookDelivery.objects.create(
                tenant=alice.tenant,
                node=node,
                event=event,
                url="https://hooks.example.com/in?é=1",
                status=["pending", "succeeded", "failed", "pending"][i],
                is_manual=bool(i % 2),
                triggered_by="" if i % 2 else "owner@example.com",
                attempt_count=i,
                next_attempt_at=now + datetime.timedelta(minutes=i) if i % 2 else None,
                expires_at=now + datetime.timedelta(days=3, microseconds=i * 1000),
                last_status_code=500 if i == 2 else None,
                last_error="Timeout ü" if i == 2 else "",
                completed_at=now if i == 1 else None,
                created_at=now - datetime.timedelta(seconds=n * 10 + i),
            )


ROUTES = [
    "/api/v1/events",
    "/api/v1/events?limit=3",
    "/api/v1/events?type=deposit.*&limit=1",
    "/api/v1/webhook_deliveries",
    "/api/v1/webhook_deliveries?limit=3",
    "/api/v1/webhook_deliveries?status=pending&limit=1",
]


def every_page(alice, url: str) -> list[tuple[int, bytes]]:
    pages = []
    while url:
        response = alice.api.get(url)
        assert response.status_code == 200, response.content
        pages.append((response.status_code, response.content))
        url = response.json()["next"]
    return pages


def test_the_lists_answer_the_bytes_drf_answered(alice, deliveries, monkeypatch):
    fast = {route: every_page(alice, route) for route in ROUTES}
    assert len(fast["/api/v1/webhook_deliveries?limit=3"]) == 3
    # DRF's own list, serializers and all, and the deliveries' nodes read as before.
    monkeypatch.setattr(ListApiView, "list", ListModelMixin.list)
    monkeypatch.setattr(
        OutputModelSerializer, "to_representation", serializers.Serializer.to_representation
    )
    listed = selectors.delivery_list
    monkeypatch.setattr(
        selectors,
        "delivery_list",
        lambda *, tenant, filters, with_node=True: listed(tenant=tenant, filters=filters),
    )
    assert {route: every_page(alice, route) for route in ROUTES} == fast


def test_a_deliveries_page_reads_no_node(alice, deliveries):
    with CaptureQueriesContext(connection) as queries:
        response = alice.api.get("/api/v1/webhook_deliveries")
    assert len(response.json()["results"]) == 8
    page = [q["sql"] for q in queries if "events_webhookdelivery" in q["sql"]]
    assert len(page) == 1 and "tenants_node" not in page[0]
