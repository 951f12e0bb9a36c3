"""The events, webhooks and clocks API: what it answers, and to whom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.events import clocks
from sandbox.events.models import TestClock, WebhookDelivery
from sandbox.events.services import outbox_relay
from sandbox.tenants.models import AuditLogEntry, Membership
from sandbox.tenants.services import SYSTEM
from tests.factories import MembershipFactory, NodeFactory
from tests.helpers import pump, record

pytestmark = pytest.mark.django_db

START = datetime(2025, 6, 1, tzinfo=UTC)


def code(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def world(alice, receiver):
    """Alice's node with a webhook, one delivered event and one test clock."""
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    event = record(node, type="deposit.credited")
    pump()
    clock = clocks.test_clock_create(tenant=alice.tenant, actor=SYSTEM, name="c", frozen_time=START)
    delivery = WebhookDelivery.objects.get(event=event)
    return {"node": node, "event": event, "clock": clock, "delivery": delivery}


def endpoints(world):
    node, event, clock, delivery = (world[k] for k in ("node", "event", "clock", "delivery"))
    return [
        ("get", f"/api/v1/events/{event.pk}", None),
        ("post", f"/api/v1/events/{event.pk}/resend", None),
        ("post", f"/api/v1/test_helpers/events/{event.pk}/refire", None),
        ("get", f"/api/v1/webhook_deliveries/{delivery.pk}", None),
        ("post", f"/api/v1/webhook_deliveries/{delivery.pk}/resend", None),
        ("get", f"/api/v1/nodes/{node.pk}/webhook_secrets", None),
        ("post", f"/api/v1/nodes/{node.pk}/webhook_secrets/rotate", {}),
        ("get", f"/api/v1/test_clocks/{clock.pk}", None),
        ("delete", f"/api/v1/test_clocks/{clock.pk}", None),
        (
            "post",
            f"/api/v1/test_clocks/{clock.pk}/advance",
            {"frozen_time": "2030-01-01T00:00:00Z"},
        ),
        ("post", f"/api/v1/test_clocks/{clock.pk}/attach", {"node": str(node.pk)}),
        ("post", f"/api/v1/test_clocks/{clock.pk}/detach", {"node": str(node.pk)}),
    ]


LISTS = [
    ("get", "/api/v1/events"),
    ("get", "/api/v1/webhook_deliveries"),
    ("get", "/api/v1/test_clocks"),
    ("post", "/api/v1/test_clocks"),
]


def test_every_endpoint_answers_an_outsider_404_and_changes_nothing(world, outsider, receiver):
    sent_before = len(receiver.requests)
    for method, path, body in endpoints(world):
        response = getattr(outsider.api, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.content)
        assert code(response).endswith("_not_found")
    pump()
    assert len(receiver.requests) == sent_before
    assert TestClock.objects.filter(pk=world["clock"].pk, frozen_time=START).exists()
    assert WebhookDelivery.objects.count() == 1
    for method, path in LISTS[:3]:
        assert getattr(outsider.api, method)(path).json()["results"] == []


def test_an_outsiders_node_cannot_be_attached_to_alices_clock(world, alice, outsider):
    theirs = NodeFactory(tenant=outsider.tenant)
    response = alice.api.post(
        f"/api/v1/test_clocks/{world['clock'].pk}/attach", {"node": str(theirs.pk)}, format="json"
    )
    assert response.status_code == 404 and code(response) == "node_not_found"


def test_every_endpoint_needs_a_key(world, anonymous):
    for method, path, body in [*endpoints(world), *[(m, p, {}) for m, p in LISTS]]:
        response = getattr(anonymous, method)(path, body, format="json")
        assert response.status_code == 401, (method, path)
        assert code(response) == "not_authenticated"


def test_operator_endpoints_refuse_tenants(alice):
    for method, path in [
        ("get", "/api/v1/operator/platform_clock"),
        ("post", "/api/v1/operator/platform_clock/advance"),
        ("get", "/api/v1/operator/events"),
    ]:
        response = getattr(alice.api, method)(path, {"seconds": 60}, format="json")
        assert response.status_code == 403 and code(response) == "operator_only"


def test_it_lists_and_filters_events(world, alice):
    record(world["node"], type="withdrawal.failed")
    listed = alice.api.get("/api/v1/events").json()["results"]
    assert [e["type"] for e in listed] == [
        "withdrawal.failed",
        "test_clock.created",
        "deposit.credited",
    ]
    assert [
        e["type"] for e in alice.api.get("/api/v1/events?type=deposit.*").json()["results"]
    ] == ["deposit.credited"]
    assert alice.api.get("/api/v1/events?type=deposit").json()["results"] == []
    by_node = alice.api.get(f"/api/v1/events?node={world['node'].pk}").json()["results"]
    assert len(by_node) == 2
    detail = alice.api.get(f"/api/v1/events/{world['event'].pk}").json()
    assert detail["data"] == {"amount": "1000"} and detail["livemode"] is False


def test_it_shows_deliveries_with_their_attempts_and_resends_on_request(world, alice, receiver):
    deliveries = alice.api.get(f"/api/v1/webhook_deliveries?event={world['event'].pk}").json()
    assert [d["status"] for d in deliveries["results"]] == ["succeeded"]
    detail = alice.api.get(f"/api/v1/webhook_deliveries/{world['delivery'].pk}").json()
    assert detail["attempts"][0]["status_code"] == 200
    assert detail["attempts"][0]["latency_ms"] >= 0

    response = alice.api.post(f"/api/v1/events/{world['event'].pk}/resend")
    assert response.status_code == 202
    pump()
    assert receiver.event_ids == [str(world["event"].pk)] * 2
    entry = AuditLogEntry.objects.get(action="event.resent")
    assert entry.actor_label.startswith("API key")

    response = alice.api.post(f"/api/v1/test_helpers/events/{world['event'].pk}/refire")
    assert response.status_code == 202 and response.json()["is_manual"] is True
    assert AuditLogEntry.objects.filter(action="event.refired").exists()


def test_it_rotates_secrets_with_an_overlap(world, alice):
    first = alice.api.get(f"/api/v1/nodes/{world['node'].pk}/webhook_secrets").json()
    assert len(first) == 1 and first[0]["secret"].startswith("whsec_")
    rotated = alice.api.post(
        f"/api/v1/nodes/{world['node'].pk}/webhook_secrets/rotate",
        {"overlap_seconds": 3600},
        format="json",
    )
    assert rotated.status_code == 201
    secrets = rotated.json()
    assert len(secrets) == 2 and secrets[1]["secret"] == first[0]["secret"]
    assert secrets[0]["expires_at"] is None and secrets[1]["expires_at"] is not None
    too_long = alice.api.post(
        f"/api/v1/nodes/{world['node'].pk}/webhook_secrets/rotate",
        {"overlap_seconds": 8 * 86400},
        format="json",
    )
    assert too_long.status_code == 400 and code(too_long) == "invalid_overlap"


@pytest.mark.parametrize("seconds", [10**30, 10**12, 604801])
def test_an_absurd_overlap_is_a_400_not_a_500(world, alice, seconds):
    answer = alice.api.post(
        f"/api/v1/nodes/{world['node'].pk}/webhook_secrets/rotate",
        {"overlap_seconds": seconds},
        format="json",
    )
    assert answer.status_code == 400
    assert code(answer) == "invalid_overlap"
    assert len(alice.api.get(f"/api/v1/nodes/{world['node'].pk}/webhook_secrets").json()) == 1


def test_viewers_cannot_read_webhook_secrets(world, alice):
    from rest_framework.test import APIClient

    viewer = MembershipFactory(tenant=alice.tenant, role=Membership.Role.VIEWER).user
    client = APIClient()
    client.force_login(viewer)
    response = client.get(f"/api/v1/nodes/{world['node'].pk}/webhook_secrets")
    assert response.status_code == 403


def test_it_creates_attaches_and_advances_a_clock(world, alice):
    created = alice.api.post(
        "/api/v1/test_clocks",
        {"name": "Month end", "frozen_time": "2025-01-31T23:00:00Z"},
        format="json",
    )
    assert created.status_code == 201, created.content
    clock_id = created.json()["id"]
    node = world["node"]
    attached = alice.api.post(
        f"/api/v1/test_clocks/{clock_id}/attach", {"node": str(node.pk)}, format="json"
    )
    assert attached.json()["nodes"] == [str(node.pk)]
    again = alice.api.post(
        f"/api/v1/test_clocks/{clock_id}/attach", {"node": str(node.pk)}, format="json"
    )
    assert again.status_code == 409 and code(again) == "node_on_clock"

    backwards = alice.api.post(
        f"/api/v1/test_clocks/{clock_id}/advance",
        {"frozen_time": "2025-01-01T00:00:00Z"},
        format="json",
    )
    assert backwards.status_code == 400 and code(backwards) == "clock_backwards"
    advanced = alice.api.post(
        f"/api/v1/test_clocks/{clock_id}/advance",
        {"frozen_time": "2025-02-01T01:00:00Z"},
        format="json",
    )
    assert advanced.status_code == 202
    assert advanced.json()["status"] == "advancing"  # the task runs after commit
    clocks.test_clock_run_advance(clock_id=clock_id)
    shown = alice.api.get(f"/api/v1/test_clocks/{clock_id}").json()
    assert shown["status"] == "ready"
    assert datetime.fromisoformat(shown["frozen_time"]) == datetime(2025, 2, 1, 1, tzinfo=UTC)

    assert alice.api.delete(f"/api/v1/test_clocks/{clock_id}").status_code == 204
    assert not TestClock.objects.filter(pk=clock_id).exists()


def test_operators_move_the_platform_clock(operator_api):
    before = operator_api.get("/api/v1/operator/platform_clock").json()
    assert before["offset_seconds"] == 0
    moved = operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"seconds": 3600}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["offset_seconds"] == 3600
    missing = operator_api.post("/api/v1/operator/platform_clock/advance", {}, format="json")
    assert missing.status_code == 400
    assert operator_api.post("/api/v1/operator/platform_clock/reset").json()["offset_seconds"] == 0
    assert operator_api.post("/api/v1/operator/platform_clock/rewind").status_code == 404


def test_event_timestamps_follow_the_nodes_clock(alice):
    node = NodeFactory(tenant=alice.tenant)
    clock = clocks.test_clock_create(tenant=alice.tenant, actor=SYSTEM, name="c", frozen_time=START)
    clocks.test_clock_attach(clock=clock, node=node, actor=SYSTEM)
    outbox_relay()
    event = record(node)
    shown = alice.api.get(f"/api/v1/events/{event.pk}").json()
    assert datetime.fromisoformat(shown["occurred_at"]) == START
    assert datetime.fromisoformat(shown["created_at"]) > START + timedelta(days=30)
