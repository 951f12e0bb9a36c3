"""What the first-run checklist and the node hub show: reads only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from sandbox.events.models import Event, WebhookAttempt, WebhookDelivery
from sandbox.events.services import webhook_secret_current
from sandbox.tenants.models import Node, Tenant
from wallets.banknet import bank_accounts
from wallets.banknet.models import BankAccount, Deposit
from wallets.models import Account

TEST_WEBHOOK = "test.webhook"


find_sender = bank_accounts.node_sender_find


def main_account(node: Node) -> Account | None:
    """The node's first open account in its base currency (its wallet's "Main")."""
    return (
        Account.objects.filter(
            wallet__node=node, status=Account.Status.OPEN, currency=node.base_currency
        )
        .order_by("created_at")
        .first()
    )


@dataclass(frozen=True)
class Checklist:
    node: Node
    sender: BankAccount | None
    deposit: Deposit | None  # the node's latest
    test_event: Event | None  # the latest test webhook
    delivery: WebhookDelivery | None  # the latest delivery to the node
    received: WebhookAttempt | None  # the first attempt the receiver answered 2xx

    @property
    def done(self) -> bool:
        return self.received is not None


def first_node(tenant: Tenant) -> Node | None:
    return Node.objects.for_tenant(tenant).filter(is_active=True).order_by("created_at").first()


def checklist(node: Node) -> Checklist:
    tenant = node.tenant
    return Checklist(
        node=node,
        sender=find_sender(node),
        deposit=Deposit.objects.for_tenant(tenant)
        .filter(node=node)
        .order_by("-created_at")
        .first(),
        test_event=Event.objects.filter(tenant=tenant, node=node, type=TEST_WEBHOOK)
        .order_by("-created_at")
        .first(),
        delivery=WebhookDelivery.objects.for_tenant(tenant)
        .filter(node=node)
        .select_related("event")
        .order_by("-created_at")
        .first(),
        received=first_received(node),
    )


def first_received(node: Node) -> WebhookAttempt | None:
    """The attempt that delivered the earliest-made of the node's deliveries that
    succeeded (``delivery_node_succeeded``), so a node with a million attempts costs no
    more than one with a few. Usually the receiver's first 2xx; not when a retried
    delivery succeeded after a later one, which onboarding, asking only whether the
    receiver has accepted one, does not need to tell apart."""
    first_succeeded = (
        WebhookDelivery.objects.for_tenant(node.tenant)
        .filter(node=node, status=WebhookDelivery.Status.SUCCEEDED)
        .order_by("created_at")
        .values("pk")[:1]
    )
    return (
        WebhookAttempt.objects.filter(delivery__in=first_succeeded, succeeded=True)
        .select_related("delivery__event")
        .order_by("attempted_at")
        .first()
    )


def signing_secret(node: Node) -> str:
    """The node's current webhook signing secret (created on first use, as the webhooks
    page does)."""
    return webhook_secret_current(node=node).secret


def hub(node: Node) -> dict[str, Any]:
    """A node's accounts (balances, numbers) and its latest deposits and deliveries."""
    tenant = node.tenant
    accounts = (
        Account.objects.for_tenant(tenant)
        .filter(wallet__node=node, status=Account.Status.OPEN)
        .order_by("created_at")
    )
    return {
        "accounts": accounts,
        "deposits": Deposit.objects.for_tenant(tenant)
        .filter(Q(node=node) | Q(account__in=accounts))
        .select_related("sender")
        .order_by("-created_at")[:5],
        "deliveries": WebhookDelivery.objects.for_tenant(tenant)
        .filter(node=node)
        .select_related("event")
        .order_by("-created_at")[:5],
    }
