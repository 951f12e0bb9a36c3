"""First run: an organization signs up with its first node (the webhook URL asked up
front) and a simulated bank customer ready to deposit into it; then one-click test
deposits and a test webhook, a real signed event. Writes only; the checklist's state is in
``selectors``."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from sandbox.errors import Conflict
from sandbox.events.models import Event
from sandbox.events.services import event_record
from sandbox.tenants import services as tenants
from sandbox.tenants.models import Membership, Node, Tenant
from sandbox.tenants.services import Actor, audit_record
from wallets.banknet import bank_accounts, deposits
from wallets.banknet.models import Deposit
from wallets.onboarding.selectors import TEST_WEBHOOK, main_account

# The node's currency follows its country (the network's banks are in these three).
COUNTRY_CURRENCY = {"KR": "KRW", "US": "USD", "JP": "JPY"}
# What a test deposit brings, in minor units: about a hundred dollars' worth.
TEST_DEPOSIT = {"KRW": 100_000, "USD": 10_000, "JPY": 10_000, "BTC": 100_000}


@dataclass(frozen=True)
class FirstRun:
    membership: Membership
    node: Node | None  # None while the organization awaits approval


@transaction.atomic
def signup_with_first_node(
    *,
    organization: str,
    email: str,
    password: str,
    full_name: str = "",
    country: str = "KR",
    webhook_url: str = "",
    ip_address: str | None = None,
) -> FirstRun:
    """The organization, its owner, and (once active) its first node with a simulated
    sender: all or nothing."""
    membership = tenants.tenant_signup(
        organization=organization,
        email=email,
        password=password,
        full_name=full_name,
        ip_address=ip_address,
    )
    tenant = membership.tenant
    if tenant.status != Tenant.Status.ACTIVE:
        return FirstRun(membership=membership, node=None)
    actor = Actor(user=membership.user, ip_address=ip_address)
    node = tenants.node_create(
        tenant=tenant,
        actor=actor,
        name=tenant.name,
        country=country,
        base_currency=COUNTRY_CURRENCY.get(country, "KRW"),
        webhook_url=webhook_url,
    )
    bank_accounts.node_sender_open(node=node, actor=actor)
    return FirstRun(membership=membership, node=node)


@transaction.atomic
def test_deposit(*, node: Node, actor: Actor) -> Deposit:
    """One click: the node's simulated sender deposits a round amount into its main
    account, as the tester control does (credited after the bank's delay)."""
    sender = bank_accounts.node_sender_open(node=node, actor=actor)
    account = main_account(node)
    if account is None:
        raise Conflict("The node has no open account in its currency.", code="no_account")
    return deposits.tester_deposit(
        tenant=node.tenant,
        actor=actor,
        sender=sender,
        bank_code=account.bank_code,
        account_number=account.account_number,
        amount=TEST_DEPOSIT.get(account.currency, 10_000),
        currency=account.currency,
        memo="Test deposit",
    )


@transaction.atomic
def test_webhook_send(*, node: Node, actor: Actor) -> Event:
    """A real event, ``test.webhook``, delivered and signed like every other: it checks
    the receiver's URL and its signature check without moving money."""
    node = Node.objects.select_for_update().get(pk=node.pk)
    if not node.is_active:
        raise Conflict("The node is deactivated.", code="node_inactive")
    if not node.webhook_url:
        raise Conflict(
            "Give the node a webhook URL first.",
            code="no_webhook_url",
            fields={"webhook_url": ["Where should the test webhook go?"]},
        )
    event = event_record(
        tenant=node.tenant,
        node=node,
        type=TEST_WEBHOOK,
        data={
            "message": "A test webhook from the Fintech Sandbox dashboard.",
            "node": str(node.pk),
            "sent_by": actor.label,
        },
    )
    audit_record(
        actor=actor,
        action="webhook.test_sent",
        tenant=node.tenant,
        target=node,
        data={"event": str(event.pk)},
    )
    return event
