"""Scenarios: the example file plays through, broken expectations are reported, bad files
are refused, and the command and the API both run them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from sandbox.banknet.models import ScenarioRun
from sandbox.banknet.scenarios import report_text, scenario_run
from sandbox.errors import ApplicationError
from sandbox.tenants.models import Tenant
from sandbox.tenants.services import SYSTEM

pytestmark = pytest.mark.django_db

EXAMPLE = (
    Path(__file__).resolve().parents[2] / "docs" / "scenarios" / "deposit_transfer_return.yaml"
)

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
    assert Tenant.objects.filter(name__startswith="Scenario").count() == 1
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
