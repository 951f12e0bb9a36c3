"""A small, lived-in sandbox for the browser tests that walk the main pages (phone widths,
screenshots): a tenant with two nodes, money moved over two weeks, webhook attempts and a
finished job, and the list of pages to visit as a tenant and as an operator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from clearing.models import Job
from sandbox.events.models import Event, PlatformClock, WebhookAttempt, WebhookDelivery
from sandbox.tenants.models import AuditLogEntry
from sandbox.tenants.services import SYSTEM
from tests.factories import AccountFactory, MembershipFactory, NodeFactory, OperatorFactory, fund
from tests.identities.factories import PersonFactory
from wallets.banknet import bank_accounts
from wallets.banknet.network_banks import seed_banks
from wallets.fx import services as fx_services


@dataclass
class World:
    owner: object
    operator: object
    tenant_pages: list[tuple[str, str]] = field(default_factory=list)
    operator_pages: list[tuple[str, str]] = field(default_factory=list)


def _moment(days_ago: int, hour: int = 11) -> dt.datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())


def _webhook_attempts(node, days_ago: int, latencies: list[int], failures: int) -> None:
    moment = _moment(days_ago)
    event = Event.objects.create(
        tenant=node.tenant, node=node, type="deposit.credited", occurred_at=moment
    )
    delivery = WebhookDelivery.objects.create(
        tenant=node.tenant,
        node=node,
        event=event,
        url=node.webhook_url or "https://example.test/hooks",
        status="succeeded",
        attempt_count=len(latencies),
        expires_at=moment + timedelta(days=3),
        created_at=moment,
    )
    for number, latency in enumerate(latencies, start=1):
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            attempted_at=moment,
            clock_time=moment,
            url=delivery.url,
            status_code=500 if number <= failures else 200,
            succeeded=number > failures,
            latency_ms=latency,
        )


def build_world(tenant) -> World:
    """Fill ``tenant`` with two weeks of activity; the platform clock ends back at real time."""
    seed_banks()  # again, if a transactional test before flushed the migrated ones
    owner = MembershipFactory(tenant=tenant).user
    operator = OperatorFactory()
    seoul = NodeFactory(
        tenant=tenant, name="Seoul marketplace", webhook_url="https://example.test/hooks"
    )
    tokyo = NodeFactory(tenant=tenant, name="Tokyo shop", country="JP", base_currency="JPY")
    krw = seoul.wallet.accounts.get()
    savings = AccountFactory(node=seoul, name="Savings")
    jpy = tokyo.wallet.accounts.get()
    for days_ago in range(13, -1, -1):
        PlatformClock.objects.update_or_create(pk=1, defaults={"frozen_time": _moment(days_ago)})
        fund(krw, 150_000 + 20_000 * (days_ago % 5))
        if days_ago % 2 == 0:
            fund(savings, 40_000)
            fund(jpy, 3_000 + 500 * days_ago)
        _webhook_attempts(seoul, days_ago, [120 + 15 * days_ago, 95], failures=days_ago % 3 == 0)
        started = _moment(days_ago, 2)
        Job.objects.create(
            kind=Job.Kind.CLOSE,
            label=str(started.date()),
            status=Job.Status.DONE,
            started_at=started,
            finished_at=started + timedelta(seconds=3 + days_ago % 4),
            count=100 + days_ago,
        )
    PlatformClock.objects.filter(pk=1).update(frozen_time=None, offset_seconds=0)
    bank_accounts.bank_account_create(
        tenant=tenant,
        actor=SYSTEM,
        bank_code="004",
        account_number="123-456-789012",
        holder_name="Kim Minjun",
    )
    AuditLogEntry.objects.create(
        tenant=tenant, actor_label=owner.email, action="node.created", target_label=seoul.name
    )
    transaction = krw.entries.order_by("-id").first().transaction
    person = PersonFactory(tenant=tenant, node=seoul, customer_reference="kim-minjun")
    fx_services.pairs_seed()  # again, if a transactional test before flushed the migrated table
    world = World(owner=owner, operator=operator)
    world.tenant_pages = [
        ("overview", reverse("dashboard:home")),
        ("nodes", reverse("dashboard:nodes")),
        ("node", reverse("dashboard:node", args=[seoul.pk])),
        ("wallets", reverse("wallets:index")),
        ("wallet", reverse("wallets:wallet", args=[seoul.pk])),
        ("transactions", reverse("wallets:transactions")),
        ("transaction", reverse("wallets:transaction", args=[transaction.uuid])),
        ("bank-network", reverse("banknet:home")),
        ("bank-node", reverse("banknet:node", args=[seoul.pk])),
        ("scenarios", reverse("banknet:scenarios")),
        ("events", reverse("events:events")),
        ("webhooks", reverse("events:deliveries")),
        ("node-webhooks", reverse("events:node-webhooks", args=[seoul.pk])),
        ("test-clocks", reverse("events:clocks")),
        ("clearing", reverse("clearing:overview")),
        ("escrows", reverse("escrow:escrows")),
        ("payments", reverse("payments:list")),
        ("settlement", reverse("settlement:home")),
        ("api-keys", reverse("dashboard:api-keys")),
        ("team", reverse("dashboard:team")),
        ("audit-log", reverse("dashboard:audit-log")),
        ("fx", reverse("fx:rates")),
        ("people", reverse("people:list")),
        ("person", reverse("people:detail", args=[person.pk])),
        ("verification", reverse("identity_verification:sessions")),
        ("credentials", reverse("credentials:home")),
        ("credit-node", reverse("credit:node", args=[seoul.pk])),
        ("credit-person", reverse("credit:person", args=[person.pk])),
    ]
    world.operator_pages = [
        ("operator-tenants", reverse("operator:tenants")),
        ("operator-audit-log", reverse("operator:audit-log")),
        ("operator-lockouts", reverse("operator:lockouts")),
        ("operator-platform-clock", reverse("events:platform-clock")),
        ("operator-banks", reverse("banknet:operator-banks")),
        ("operator-clearing", reverse("clearing:overview")),
        ("operator-recovery", reverse("clearing:recovery")),
        ("operator-fx-desk", reverse("fx:operator")),
        ("operator-key-rotations", reverse("people:rotations")),
    ]
    return world
