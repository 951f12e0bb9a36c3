"""Scenarios: the example file plays through, broken expectations are reported, bad files
are refused, and the command and the API both run them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from sandbox.errors import ApplicationError
from sandbox.tenants.models import AuditLogEntry, Node
from sandbox.tenants.services import SYSTEM, Actor
from wallets.banknet.models import Bank, BankOutage, ScenarioRun
from wallets.banknet.scenarios import report_text, scenario_run
from wallets.models import Account, Entry, LedgerTransaction

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[3] / "docs" / "scenarios"
EXAMPLE = DOCS / "deposit_transfer_return.yaml"

SMALL = """
name: small
start: "2025-03-04T10:00:00+09:00"
nodes: [{ref: shop, currency: KRW}]
bank_accounts: [{ref: kim, bank: "004", number: "123456789012", holder: Kim Minjun}]
steps:
  - deposit: {from: kim, to: shop, amount: "5000"}
  - advance: 1m
expect:
  - balance: {node: shop, available: "%s"}
"""


def test_the_example_scenario_plays_through_and_every_expectation_holds(alice):
    run = scenario_run(tenant=alice.tenant, actor=SYSTEM, source=EXAMPLE.read_text())
    assert run.passed, report_text(run)
    assert len(run.report["steps"]) == 15
    assert all(step["ok"] for step in run.report["steps"])
    assert run.report["ledger"]["consistent"]


def test_a_broken_expectation_fails_the_run_and_says_why(alice):
    run = scenario_run(tenant=alice.tenant, actor=SYSTEM, source=SMALL % "4000")
    assert not run.passed
    [expectation] = run.report["expectations"]
    assert not expectation["ok"] and "available 5000" in expectation["detail"]
    assert "✗ expect" in report_text(run)


def test_json_works_as_well_as_yaml(alice):
    source = (
        '{"name": "json", "nodes": [{"ref": "n"}], "steps": [{"advance": "1h"}],'
        ' "expect": [{"balance": {"node": "n", "posted": "0"}}]}'
    )
    run = scenario_run(tenant=alice.tenant, actor=SYSTEM, source=source)
    assert run.passed, report_text(run)


@pytest.mark.parametrize(
    "source,fragment",
    [
        ("just text", "mapping"),
        ("name: x\nsurprise: 1", "Unknown top-level"),
        ("steps: {a: 1}", "is a list"),
        ("!!python/object/apply:os.system ['true']", "Neither JSON nor YAML"),
    ],
)
def test_bad_files_are_refused(alice, source, fragment):
    with pytest.raises(ApplicationError) as refused:
        scenario_run(tenant=alice.tenant, actor=SYSTEM, source=source)
    assert fragment in refused.value.message
    assert not ScenarioRun.objects.exists()


def test_a_bad_step_is_reported_without_stopping_the_others(alice):
    source = SMALL.replace(
        "  - advance: 1m", '  - transfer: {from: shop, to: kim, amount: "999999"}\n  - advance: 1m'
    )
    run = scenario_run(tenant=alice.tenant, actor=SYSTEM, source=source % "5000")
    steps = run.report["steps"]
    assert [s["ok"] for s in steps] == [True, False, True]
    assert "insufficient_funds" in steps[1]["detail"]
    assert not run.passed


def test_the_command_runs_a_file_in_a_tenant_of_its_own(tmp_path, capsys):
    call_command("run_scenario", str(EXAMPLE))
    out = capsys.readouterr().out
    assert "PASSED" in out
    run = ScenarioRun.objects.get()
    assert run.tenant.name == "Scenario deposit_transfer_return"
    assert Node.objects.filter(tenant=run.sandbox).exists()
    assert not Node.objects.filter(tenant=run.tenant).exists()  # the run's data is apart
    failing = tmp_path / "failing.yaml"
    failing.write_text(SMALL % "1")
    with pytest.raises(CommandError):
        call_command("run_scenario", str(failing))


def test_the_api_runs_a_scenario_and_answers_its_report(alice):
    response = alice.api.post(
        "/api/v1/test_helpers/scenarios", {"scenario": SMALL % "5000"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["passed"] is True
    failing = alice.api.post(
        "/api/v1/test_helpers/scenarios", {"scenario": SMALL % "1"}, format="json"
    )
    assert failing.status_code == 422 and failing.json()["passed"] is False


# --- Banks and opening balances --------------------------------------------------------------

BALANCED = """
name: balances
start: "2025-03-04T10:00:00+09:00"
nodes: [{ref: shop, currency: KRW, balance: "%s"}]
expect:
  - balance: {node: shop, posted: "500000", available: "500000"}
"""


def test_the_outage_example_plays_through_from_an_opening_balance(alice):
    run = scenario_run(
        tenant=alice.tenant,
        actor=SYSTEM,
        source=(DOCS / "opening_balance_and_outage.yaml").read_text(),
    )
    assert run.passed, report_text(run)
    assert BankOutage.objects.filter(tenant=run.sandbox, bank_id="088").count() == 1


def test_an_opening_balance_is_a_balanced_deposit_from_the_nodes_bank(alice):
    # given a node with an opening balance
    run = scenario_run(tenant=alice.tenant, actor=SYSTEM, source=BALANCED % "500000")

    # then the balance was posted, not written
    assert run.passed, report_text(run)
    shop = Account.objects.get(wallet__node_id=run.report["nodes"]["shop"])
    [opening] = LedgerTransaction.objects.filter(entries__account=shop).distinct()
    assert opening.kind == "deposit" and opening.metadata == {"opening_balance": True}
    legs = {(e.account.purpose, e.amount) for e in Entry.objects.filter(transaction=opening)}
    assert legs == {(Account.Purpose.SETTLEMENT, -500_000), (shop.purpose, 500_000)}
    assert AuditLogEntry.objects.filter(
        tenant=run.sandbox, action="test_helper.opening_balance"
    ).exists()
    assert run.report["ledger"]["consistent"]


def test_an_operator_sets_a_banks_delay_limit_and_maintenance(alice, operator):
    source = """
name: operator banks
start: "2025-03-04T10:00:00+09:00"
banks:
  - bank: "021000021"
    processing_delay_seconds: 10
    daily_withdrawal_limit: "10000.00"
    maintenance_starts_at: "04:00"
    maintenance_ends_at: "05:00"
  - {bank: "004", offline: true}
nodes: [{ref: shop}]
"""
    run = scenario_run(tenant=alice.tenant, actor=Actor(user=operator), source=source)
    assert run.passed, report_text(run)
    chase = Bank.objects.get(pk="021000021")
    assert (
        chase.processing_delay_seconds,
        chase.daily_withdrawal_limit,
        chase.maintenance_starts_at.hour,
        chase.maintenance_ends_at.hour,
    ) == (10, 10_000_00, 4, 5)
    assert AuditLogEntry.objects.filter(action="bank.updated").count() == 1
    assert BankOutage.objects.filter(tenant=run.sandbox, bank_id="004").exists()
    assert not BankOutage.objects.filter(tenant=alice.tenant).exists()  # never the real one


def test_a_tester_cannot_change_a_bank_for_everyone(alice):
    source = 'banks: [{bank: "004", processing_delay_seconds: 1}]\nnodes: [{ref: shop}]'
    with pytest.raises(ApplicationError) as refused:
        scenario_run(tenant=alice.tenant, actor=SYSTEM, source=source)
    assert (refused.value.code, refused.value.status_code) == ("operator_only", 403)
    assert Bank.objects.get(pk="004").processing_delay_seconds == 5
    assert not ScenarioRun.objects.exists()
    response = alice.api.post("/api/v1/test_helpers/scenarios", {"scenario": source}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "operator_only"


@pytest.mark.parametrize(
    "banks,nodes,fragment",
    [
        ("[]", "[{ref: shop, balance: 500000}]", "not numbers"),
        ("[]", '[{ref: shop, balance: "12.5"}]', "decimal places"),
        ("[]", '[{ref: shop, balance: "0"}]', "greater than zero"),
        ("[]", '[{ref: shop, currency: USD, balance: "1.234"}]', "in USD"),
        ("{bank: '004'}", "[]", "'banks' is a list"),
        ('["004"]', "[]", "banks[0] is a mapping"),
        ('[{bank: "999", offline: true}]', "[]", "Unknown bank code"),
        ('[{bank: "004", colour: red}]', "[]", "unknown keys colour"),
        ('[{bank: "004"}]', "[]", "sets nothing"),
        ('[{bank: "004", offline: "yes"}]', "[]", "true or false"),
        (
            '[{bank: "004", maintenance_starts_at: 2:00, maintenance_ends_at: "03:00"}]',
            "[]",
            "quoted local time",
        ),
        ('[{bank: "004", maintenance_starts_at: "02:00"}]', "[]", "together"),
        ('[{bank: "004", processing_delay_seconds: -1}]', "[]", "0 to 86400"),
        ('[{bank: "004", daily_withdrawal_limit: 1000}]', "[]", "not numbers"),
        ('[{bank: "004", business_days: 12345}]', "[]", "quoted digits"),
    ],
)
def test_bad_banks_and_balances_are_refused_before_anything_runs(
    alice, operator, banks, nodes, fragment
):
    source = f"name: bad\nbanks: {banks}\nnodes: {nodes}"
    for actor in (SYSTEM, Actor(user=operator)):
        with pytest.raises(ApplicationError) as refused:
            scenario_run(tenant=alice.tenant, actor=actor, source=source)
        assert refused.value.code == "invalid_scenario"
        assert fragment in refused.value.message, refused.value.message
    assert not ScenarioRun.objects.exists()
    assert not AuditLogEntry.objects.filter(
        action__in=["bank.updated", "test_helper.opening_balance", "test_helper.bank_offline"]
    ).exists()
    assert not LedgerTransaction.objects.filter(kind="deposit").exists()


def test_the_command_runs_operator_settings_as_the_operator_it_is_told(tmp_path, operator):
    path = tmp_path / "slow_chase.yaml"
    path.write_text('banks: [{bank: "021000021", processing_delay_seconds: 120}]\n')
    with pytest.raises(CommandError, match="operator_only"):
        call_command("run_scenario", str(path))
    with pytest.raises(CommandError, match="No staff user"):
        call_command("run_scenario", str(path), "--operator", "nobody@example.com")
    call_command("run_scenario", str(path), "--operator", operator.email)
    assert Bank.objects.get(pk="021000021").processing_delay_seconds == 120
