"""A scenario run's own data: what it left in its tenant, and removing it in one action.

Every run plays in a tenant of its own (``scenarios.scenario_sandbox_create``), so what it
made never mixes with the organization's real test data. Removing it is ledger-safe:
postings are append-only and closed days are anchored, so nothing of the ledger is deleted;
the run's tenant is suspended instead (docs/scenarios/README.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from sandbox.errors import Conflict
from sandbox.events.models import Event, ScheduledAction
from sandbox.tenants import keycache
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor, audit_record
from wallets.banknet.models import ScenarioRun
from wallets.models import Account, Entry


@dataclass(frozen=True)
class ScenarioNodeSummary:
    node: Node
    balances: list[tuple[str, int, int]]  # (currency, posted, available)
    transactions: int
    events: int


def scenario_data(run: ScenarioRun) -> list[ScenarioNodeSummary]:
    """What the run left in its tenant, per node: balances, transactions and events."""
    if run.sandbox_id is None:
        return []
    # Four queries whatever the number of nodes: nodes, accounts, and two counts per node.
    nodes = list(Node.objects.filter(tenant_id=run.sandbox_id).order_by("created_at"))
    accounts: dict[Any, list[Account]] = defaultdict(list)
    for account in Account.objects.filter(wallet__node__in=nodes).select_related("wallet"):
        assert account.wallet is not None  # filtered on its wallet's node
        accounts[account.wallet.node_id].append(account)
    transactions = dict(
        Entry.objects.filter(account__wallet__node__in=nodes)
        .values_list("account__wallet__node_id")
        .annotate(n=Count("transaction", distinct=True))
    )
    events = dict(
        Event.objects.filter(node__in=nodes).values_list("node_id").annotate(n=Count("id"))
    )
    return [
        ScenarioNodeSummary(
            node=node,
            balances=[
                (a.currency, a.posted_balance, a.available_balance)
                for a in sorted(accounts[node.pk], key=lambda a: a.currency)
            ],
            transactions=transactions.get(node.pk, 0),
            events=events.get(node.pk, 0),
        )
        for node in nodes
    ]


@transaction.atomic
def scenario_data_remove(*, run: ScenarioRun, actor: Actor) -> ScenarioRun:
    """Remove what the run made, in one action, without touching its tenant's own data.

    Ledger-safe: postings are append-only and closed days are anchored, so nothing of the
    ledger is deleted. The run's tenant is suspended (nobody acts in it again, it is in no
    one's lists), its nodes deactivated and whatever was still due on them cancelled; the
    books stay balanced and every proof still verifies."""
    run = ScenarioRun.objects.select_for_update().get(pk=run.pk)
    if run.removed_at is not None:
        raise Conflict("This run's data is already removed.", code="scenario_data_removed")
    if run.sandbox_id is None:
        raise Conflict(
            "This run was played before runs had a tenant of their own: its data is mixed "
            "with your organization's and cannot be told apart.",
            code="scenario_data_shared",
        )
    now = timezone.now()
    sandbox = Tenant.objects.select_for_update().get(pk=run.sandbox_id)
    nodes = Node.objects.filter(tenant=sandbox, is_active=True).update(
        is_active=False, deactivated_at=now
    )
    cancelled = ScheduledAction.objects.filter(
        tenant=sandbox, status=ScheduledAction.Status.PENDING
    ).update(status=ScheduledAction.Status.CANCELLED)
    cancelled += ScheduledAction.objects.filter(
        node__tenant=sandbox, status=ScheduledAction.Status.PENDING
    ).update(status=ScheduledAction.Status.CANCELLED)
    sandbox.status = Tenant.Status.SUSPENDED
    sandbox.status_changed_at = now
    sandbox.save(update_fields=["status", "status_changed_at"])
    keycache.forget_tenant(sandbox)
    run.removed_at = now
    run.save(update_fields=["removed_at"])
    audit_record(
        actor=actor,
        action="test_helper.scenario_data_removed",
        tenant=run.tenant,
        target=run,
        data={"sandbox": str(sandbox.pk), "nodes": nodes, "cancelled": cancelled},
    )
    return run


def scenario_data_remove_all(*, tenant: Tenant, actor: Actor) -> int:
    """Remove the data of every run of ``tenant`` that still has some; how many."""
    runs = ScenarioRun.objects.for_tenant(tenant).filter(
        removed_at__isnull=True, sandbox__isnull=False
    )
    removed = 0
    for run in runs.order_by("created_at"):
        scenario_data_remove(run=run, actor=actor)
        removed += 1
    return removed
