"""Dashboard pages for events, webhooks and clocks: they render, act, and stay private."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from sandbox.events import clocks
from sandbox.events.models import ClockAttachment, TestClock, WebhookDelivery
from sandbox.events.services import webhook_secret_current
from sandbox.tenants.models import AuditLogEntry, Membership
from sandbox.tenants.services import SYSTEM
from tests.factories import MembershipFactory, NodeFactory
from tests.helpers import pump, record
from tests.helpers import web_as as browser

pytestmark = pytest.mark.django_db

START = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def world(alice, receiver):
    node = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url, name="Seoul shop")
    receiver.secrets = [webhook_secret_current(node=node).secret]
    receiver.script = [500]
    event = record(node, type="deposit.credited")
    pump()
    clock = clocks.test_clock_create(
        tenant=alice.tenant, actor=SYSTEM, name="Q2", frozen_time=START
    )
    return {
        "node": node,
        "event": event,
        "clock": clock,
        "delivery": WebhookDelivery.objects.get(event=event),
    }


def pages(world) -> list[str]:
    return [
        f"/events/{world['event'].pk}/",
        f"/webhooks/deliveries/{world['delivery'].pk}/",
        f"/webhooks/nodes/{world['node'].pk}/",
        f"/test-clocks/{world['clock'].pk}/",
    ]


def test_the_pages_show_events_attempts_secrets_and_clocks(world, alice):
    owner = browser(alice.owner)
    listing = owner.get("/events/").content.decode()
    assert "deposit.credited" in listing
    detail = owner.get(f"/events/{world['event'].pk}/").content.decode()
    assert "500" in detail and "Resend" in detail
    deliveries = owner.get("/webhooks/?status=pending").content.decode()
    assert "Seoul shop" in deliveries
    attempts = owner.get(f"/webhooks/deliveries/{world['delivery'].pk}/").content.decode()
    assert "The receiver answered 500." in attempts and " ms" in attempts
    secrets = owner.get(f"/webhooks/nodes/{world['node'].pk}/").content.decode()
    assert webhook_secret_current(node=world["node"]).secret in secrets
    assert "Q2" in owner.get("/test-clocks/").content.decode()
    assert "Nothing scheduled" in owner.get(f"/test-clocks/{world['clock'].pk}/").content.decode()


def test_an_outsider_gets_404_for_every_page_and_action(world, outsider):
    stranger = browser(outsider.owner)
    for path in pages(world):
        assert stranger.get(path).status_code == 404, path
    clock_id = world["clock"].pk
    for path, data in [
        (f"/events/{world['event'].pk}/resend/", {}),
        (f"/webhooks/nodes/{world['node'].pk}/", {"overlap_seconds": 0}),
        (f"/test-clocks/{clock_id}/advance/", {"preset": "86400"}),
        (f"/test-clocks/{clock_id}/delete/", {}),
    ]:
        assert stranger.post(path, data).status_code == 404, path
    assert TestClock.objects.filter(pk=clock_id, frozen_time=START).exists()
    assert (
        not AuditLogEntry.objects.filter(tenant=outsider.tenant)
        .exclude(action__startswith="api_key")
        .exclude(action="login.succeeded")  # the outsider's own login, not an attempt
        .exists()
    )


def test_anonymous_visitors_are_sent_to_log_in(world):
    for path in ["/events/", "/webhooks/", "/test-clocks/", *pages(world)]:
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path


def test_viewers_see_pages_but_no_secrets_and_cannot_act(world, alice):
    viewer = browser(MembershipFactory(tenant=alice.tenant, role=Membership.Role.VIEWER).user)
    page = viewer.get(f"/webhooks/nodes/{world['node'].pk}/").content.decode()
    assert "Viewers cannot see webhook secrets" in page
    assert webhook_secret_current(node=world["node"]).secret not in page
    assert viewer.post(f"/events/{world['event'].pk}/resend/").status_code == 403
    assert viewer.post(f"/test-clocks/{world['clock'].pk}/delete/").status_code == 403


def test_a_tester_drives_a_clock_and_resends_from_the_browser(world, alice, receiver):
    owner = browser(alice.owner)
    node, clock = world["node"], world["clock"]

    response = owner.post(f"/test-clocks/{clock.pk}/attach/", {"node": str(node.pk)})
    assert response.status_code == 302
    assert ClockAttachment.objects.filter(node=node, clock=clock).exists()
    owner.post(f"/test-clocks/{clock.pk}/advance/", {"preset": "86400"})
    clock.refresh_from_db()
    assert clock.status == "advancing" and clock.advance_to == datetime(2025, 6, 2, tzinfo=UTC)
    clocks.test_clock_run_advance(clock_id=clock.pk)  # what the queued task does

    sent = len(receiver.requests)
    owner.post(f"/events/{world['event'].pk}/resend/", {"reason": "refired"})
    pump()
    assert len(receiver.requests) == sent + 1
    assert AuditLogEntry.objects.get(action="event.refired").actor_label == alice.owner.email

    owner.post(f"/webhooks/nodes/{node.pk}/", {"overlap_seconds": "3600"})
    assert AuditLogEntry.objects.filter(action="webhook_secret.rotated").exists()


def test_operators_move_the_platform_clock_from_the_console(operator, alice):
    ops = browser(operator)
    assert "real time" in ops.get("/operator/platform-clock/").content.decode()
    ops.post("/operator/platform-clock/", {"action": "advance", "seconds": "7200"})
    assert "shifted by 7200 s" in ops.get("/operator/platform-clock/").content.decode()
    assert browser(alice.owner).get("/operator/platform-clock/").status_code == 302


# --- Live tables (htmx polling) --------------------------------------------------------------


def test_the_events_and_deliveries_pages_poll_their_live_tables(world, alice):
    owner = browser(alice.owner)
    page = owner.get("/events/?type=deposit.credited").content.decode()
    assert 'hx-get="/events/live/?type=deposit.credited"' in page
    assert 'hx-trigger="every 5s" data-poll-visible' in page
    assert (
        'hx-get="/webhooks/live/?status=failed"'
        in owner.get("/webhooks/?status=failed").content.decode()
    )


def test_it_serves_the_events_table_alone_with_the_pages_filters(world, alice):
    owner = browser(alice.owner)
    response = owner.get("/events/live/")
    table = response.content.decode()
    assert response.status_code == 200 and "<html" not in table
    assert "deposit.credited" in table and str(world["event"].pk) in table
    record(world["node"], type="payment.refunded")  # appears at the next poll
    assert "payment.refunded" in owner.get("/events/live/").content.decode()
    filtered = owner.get("/events/live/?type=payment.refunded").content.decode()
    assert "payment.refunded" in filtered and "deposit.credited" not in filtered


def test_it_serves_the_deliveries_table_alone(world, alice):
    owner = browser(alice.owner)
    response = owner.get("/webhooks/live/")
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert str(world["delivery"].pk) in response.content.decode()
    assert (
        str(world["delivery"].pk)
        not in owner.get("/webhooks/live/?status=succeeded").content.decode()
    )


def test_live_tables_show_only_the_visitors_organization(world, outsider):
    stranger = browser(outsider.owner)
    for path in ("/events/live/", "/webhooks/live/"):
        response = stranger.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert str(world["event"].pk) not in body and str(world["delivery"].pk) not in body


def test_live_tables_send_anonymous_visitors_to_log_in(world):
    for path in ("/events/live/", "/webhooks/live/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path
