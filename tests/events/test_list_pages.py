"""The dashboard's events and deliveries lists page by cursor (newest first, no count, no
offset) and list the tenant's event types from the index."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sandbox.events import selectors
from sandbox.events.models import Event, WebhookDelivery
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def events_of(node, count: int, type: str = "deposit.credited") -> list[Event]:
    """``count`` events, one a minute, oldest first; two share each moment so that the
    order must break ties by id."""
    return [
        Event.objects.create(
            tenant=node.tenant,
            node=node,
            type=type,
            occurred_at=NOW,
            created_at=NOW - timedelta(minutes=count - n // 2),
            relayed_at=NOW,
        )
        for n in range(count)
    ]


def newest_first(events):
    return sorted(events, key=lambda e: (e.created_at, str(e.pk)), reverse=True)


def shown_ids(html: str) -> list[str]:
    return re.findall(r'href="/events/([0-9a-f-]{36})/"', html)


def older_link(html: str) -> str | None:
    match = re.search(r'href="(\?[^"]*)">older', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_the_events_list_walks_every_event_once_by_cursor(alice):
    # given: 120 events of alice, and another tenant's
    node = NodeFactory(tenant=alice.tenant)
    events = events_of(node, 120)
    events_of(NodeFactory(), 5)

    # when: alice follows "older" until there is none
    seen, url, pages = [], "/events/", 0
    while url:
        html = alice.web.get(url).content.decode()
        seen += shown_ids(html)
        pages += 1
        link = older_link(html)
        url = f"/events/{link}" if link else None

    # then: 50, 50, 20 — every event once, newest first, ties broken by id
    assert pages == 3
    assert seen == [str(e.pk) for e in newest_first(events)]


def test_a_later_page_links_back_to_the_newest_and_keeps_the_filter(alice):
    node = NodeFactory(tenant=alice.tenant)
    events_of(node, 60, type="transfer.paid")
    events_of(node, 3, type="deposit.credited")

    first = alice.web.get("/events/?type=transfer.paid").content.decode()
    link = older_link(first)
    assert link is not None and "type=transfer.paid" in link
    second = alice.web.get(f"/events/{link}").content.decode()

    assert len(shown_ids(second)) == 10
    assert older_link(second) is None
    assert 'href="?type=transfer.paid&">← newest' in second


def test_a_cursor_that_cannot_be_read_shows_the_newest_page(alice):
    node = NodeFactory(tenant=alice.tenant)
    events = events_of(node, 3)

    html = alice.web.get("/events/?cursor=not-a-cursor").content.decode()

    assert shown_ids(html) == [str(e.pk) for e in newest_first(events)]


def test_the_deliveries_list_pages_by_cursor_too(alice):
    node = NodeFactory(tenant=alice.tenant, webhook_url="https://hooks.example.com/in")
    for event in events_of(node, 55):
        WebhookDelivery.objects.create(
            tenant=alice.tenant,
            node=node,
            event=event,
            url=node.webhook_url,
            status="succeeded",
            expires_at=NOW,
            created_at=event.created_at,
        )

    first = alice.web.get("/webhooks/").content.decode()
    link = re.search(r'href="(\?[^"]*)">older', first).group(1).replace("&amp;", "&")
    second = alice.web.get(f"/webhooks/{link}").content.decode()

    assert first.count('href="/webhooks/deliveries/') == 50
    assert second.count('href="/webhooks/deliveries/') == 5
    # each row links where reverse() says (the table reverses once per page)
    newest = WebhookDelivery.objects.order_by("-created_at", "-id").first()
    for name, arg in [
        ("events:delivery", newest.pk),
        ("events:event", newest.event_id),
        ("events:node-webhooks", node.pk),
    ]:
        assert f'href="{reverse(name, args=[arg])}"' in first


def test_history_rows_link_to_their_transaction(alice):
    from tests.factories import fund

    node = NodeFactory(tenant=alice.tenant)
    txn = fund(node.wallet.accounts.get(), 1000)

    html = alice.web.get("/wallets/transactions/").content.decode()

    assert f'href="{reverse("wallets:transaction", args=[txn.uuid])}"' in html


def test_event_types_are_the_tenants_own_sorted_and_each_once(alice):
    node = NodeFactory(tenant=alice.tenant)
    for type in ["transfer.paid", "deposit.credited", "transfer.paid", "account.created"]:
        events_of(node, 1, type=type)
    events_of(NodeFactory(), 1, type="zzz.other_tenant")

    assert selectors.event_types(tenant=alice.tenant) == [
        "account.created",
        "deposit.credited",
        "transfer.paid",
    ]
    assert selectors.event_types(tenant=NodeFactory().tenant) == []
