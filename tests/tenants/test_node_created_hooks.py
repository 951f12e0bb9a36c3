"""node_create gives a node what higher floors register for it (its wallet, its end-of-day
schedule), in one transaction with the node and its audit entry."""

import pytest

from sandbox.events.models import ScheduledAction
from sandbox.tenants import services
from sandbox.tenants.models import AuditLogEntry, Node
from wallets.banknet.endofday import end_of_day_start
from wallets.models import Wallet
from wallets.services import wallet_create

pytestmark = pytest.mark.django_db


def test_it_registers_the_wallet_before_the_end_of_day():
    hooks = services._ON_NODE_CREATED
    assert hooks.index(wallet_create) < hooks.index(end_of_day_start)


def test_it_registers_a_hook_once():
    before = list(services._ON_NODE_CREATED)
    services.on_node_created(wallet_create)
    assert before == services._ON_NODE_CREATED


def test_a_new_node_has_its_wallet_and_its_end_of_day(alice):
    node = services.node_create(
        tenant=alice.tenant,
        actor=services.Actor(user=alice.owner),
        name="Seoul",
        country="KR",
        base_currency="KRW",
    )
    assert Wallet.objects.filter(node=node).exists()
    assert ScheduledAction.objects.filter(
        node=node, kind="banknet.end_of_day", status=ScheduledAction.Status.PENDING
    ).exists()


def test_a_failing_hook_leaves_no_node_and_no_audit_entry(alice, monkeypatch):
    seen = []

    def fails(*, node):
        seen.append(Wallet.objects.filter(node=node).exists())
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "_ON_NODE_CREATED", [*services._ON_NODE_CREATED, fails])
    with pytest.raises(RuntimeError):
        services.node_create(
            tenant=alice.tenant,
            actor=services.Actor(user=alice.owner),
            name="Seoul",
            country="KR",
            base_currency="KRW",
        )
    assert seen == [True]  # ran after the wallet was made, in the same transaction
    assert not Node.objects.filter(tenant=alice.tenant).exists()
    assert not Wallet.objects.filter(tenant=alice.tenant).exists()
    assert not AuditLogEntry.objects.filter(action="node.created").exists()
