"""A scenario run's data lives in a place of its own (a tenant made for the run), apart from
the organization's real test data, and goes in one action without breaking the books."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from sandbox.errors import Conflict
from sandbox.events.models import ScheduledAction
from sandbox.tenants.models import AuditLogEntry, Node, Tenant
from sandbox.tenants.services import SYSTEM
from tests.factories import MembershipFactory, api_key_for
from tests.helpers import error_code, web_as
from wallets.banknet.models import BankAccount, BankOutage, ScenarioRun
from wallets.banknet.scenario_data import (
    scenario_data,
    scenario_data_remove,
    scenario_data_remove_all,
)
from wallets.banknet.scenarios import scenario_run
from wallets.models import Account, LedgerTransaction
from wallets.verification import verify_ledger

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]

SCENARIO = """
name: payday
start: "2025-03-04T10:00:00+09:00"
banks: [{bank: "088", offline: true}]
nodes: [{ref: shop, name: Scenario shop, currency: KRW, balance: "1000"}]
bank_accounts: [{ref: kim, bank: "004", number: "123456789012", holder: Kim Minjun}]
steps:
  - deposit: {from: kim, to: shop, amount: "5000"}
  - advance: 1m
  - deposit: {from: kim, to: shop, amount: "700", delay_seconds: 3600}
expect:
  - balance: {node: shop, available: "6000"}
"""


def real_data(tenant) -> tuple:
    """What belongs to the organization itself: a scenario must leave it as it was."""
    return (
        list(Node.objects.filter(tenant=tenant).values_list("pk", "is_active")),
        list(Account.objects.filter(tenant=tenant).values_list("pk", "posted_balance", "status")),
        list(BankAccount.objects.filter(tenant=tenant).values_list("pk", "status")),
        list(BankOutage.objects.filter(tenant=tenant).values_list("pk", "ended_at")),
        LedgerTransaction.objects.filter(tenant=tenant).count(),
    )


def test_a_run_plays_in_a_tenant_of_its_own_and_leaves_the_real_data_alone(world):
    before = real_data(world.tenant)

    run = scenario_run(tenant=world.tenant, actor=SYSTEM, source=SCENARIO)

    assert run.passed, run.report
    assert run.sandbox_id not in (None, world.tenant.pk)
    assert real_data(world.tenant) == before
    # the run's own Kim Minjun at KB, though alice has one with this number: never reused
    assert BankAccount.objects.get(tenant=run.sandbox).account_number == world.kim.account_number
    assert BankOutage.objects.filter(tenant=run.sandbox, bank_id="088").exists()
    [shop] = scenario_data(run)
    assert (shop.node.name, shop.balances) == ("Scenario shop", [("KRW", 6000, 6000)])
    assert shop.transactions == 2 and shop.events > 0


def test_removing_a_runs_data_is_one_action_that_keeps_the_books(world):
    run = scenario_run(tenant=world.tenant, actor=SYSTEM, source=SCENARIO)
    before = real_data(world.tenant)
    postings = LedgerTransaction.objects.count()
    assert ScheduledAction.objects.filter(
        node__tenant=run.sandbox, status=ScheduledAction.Status.PENDING
    ).exists()  # the delayed deposit, still due

    scenario_data_remove(run=run, actor=SYSTEM)

    run.refresh_from_db()
    assert run.removed_at is not None
    assert Tenant.objects.get(pk=run.sandbox_id).status == Tenant.Status.SUSPENDED
    assert not Node.objects.filter(tenant=run.sandbox, is_active=True).exists()
    assert not ScheduledAction.objects.filter(
        node__tenant=run.sandbox, status=ScheduledAction.Status.PENDING
    ).exists()
    # ledger-safe: nothing posted is deleted, and the organization's data is as it was
    assert LedgerTransaction.objects.count() == postings
    assert verify_ledger().ok
    assert real_data(world.tenant) == before
    entry = AuditLogEntry.objects.get(action="test_helper.scenario_data_removed")
    assert entry.tenant == world.tenant and entry.target_id == str(run.pk)


def test_removing_a_runs_data_refuses_its_tenants_api_keys_at_once(world):
    run = scenario_run(tenant=world.tenant, actor=SYSTEM, source=SCENARIO)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(run.sandbox)}")
    assert client.get("/api/v1/nodes").status_code == 200  # (its record is cached now)

    scenario_data_remove(run=run, actor=SYSTEM)

    assert error_code(client.get("/api/v1/nodes")) == "tenant_suspended"


def test_removing_twice_is_refused(world):
    run = scenario_run(tenant=world.tenant, actor=SYSTEM, source=SCENARIO)
    scenario_data_remove(run=run, actor=SYSTEM)

    with pytest.raises(Conflict) as refused:
        scenario_data_remove(run=run, actor=SYSTEM)

    assert refused.value.code == "scenario_data_removed"


def test_a_run_from_before_has_no_data_of_its_own_to_remove(world):
    old = ScenarioRun.objects.create(
        tenant=world.tenant, name="old", source="{}", report={}, triggered_by="test"
    )

    with pytest.raises(Conflict) as refused:
        scenario_data_remove(run=old, actor=SYSTEM)

    assert refused.value.code == "scenario_data_shared"
    assert Node.objects.get(pk=world.node.pk).is_active


def test_remove_all_takes_every_run_that_still_has_data(world):
    first = scenario_run(tenant=world.tenant, actor=SYSTEM, source=SCENARIO)
    second = scenario_run(tenant=world.tenant, actor=SYSTEM, source=SCENARIO)
    scenario_data_remove(run=first, actor=SYSTEM)

    assert scenario_data_remove_all(tenant=world.tenant, actor=SYSTEM) == 1

    second.refresh_from_db()
    assert second.removed_at is not None


def test_the_run_page_removes_its_data_for_writers_only(world):
    run = scenario_run(tenant=world.tenant, actor=SYSTEM, source=SCENARIO)
    viewer = MembershipFactory(tenant=world.tenant, role="viewer").user
    url = f"/bank/scenarios/{run.pk}/remove/"

    assert web_as(viewer).post(url).status_code == 403
    page = world.party.web.get(f"/bank/scenarios/{run.pk}/").content.decode()
    assert "Scenario shop" in page and "Remove this run's data" in page

    removed = world.party.web.post(url, follow=True)

    assert removed.redirect_chain[-1][0] == f"/bank/scenarios/{run.pk}/"
    assert "The run&#x27;s data is removed" in removed.content.decode()
    run.refresh_from_db()
    assert run.removed_at is not None
    assert world.party.web.post("/bank/scenarios/remove-all/").status_code == 302


def test_the_scenario_nodes_are_not_among_the_organizations(world):
    run = scenario_run(tenant=world.tenant, actor=SYSTEM, source=SCENARIO)

    nodes_page = world.party.web.get("/nodes/").content.decode()
    wallets_page = world.party.web.get("/wallets/").content.decode()

    assert "Scenario shop" not in nodes_page and "Scenario shop" not in wallets_page
    assert world.party.web.get(f"/nodes/{run.report['nodes']['shop']}/").status_code == 404
