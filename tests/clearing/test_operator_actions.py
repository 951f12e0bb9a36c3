"""Operators' clearing actions are audited; tenants read their clearing jobs through the API;
the close log cannot be started before the ledger's first day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clearing import closing
from clearing.models import ClockClose, Job
from sandbox.errors import ApplicationError
from sandbox.tenants.models import AuditLogEntry
from tests.clearing.conftest import DAY
from tests.factories import NodeFactory

pytestmark = pytest.mark.django_db


def audited(action: str) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(action=action))


def test_setting_thresholds_and_contracts_and_aborting_windows_are_audited(
    ledger, operator_api, operator
):
    node = NodeFactory()
    threshold = operator_api.put(
        "/api/v1/operator/clearing/thresholds",
        {"currency": "KRW", "min_amount": "1000000"},
        format="json",
    )
    contract = operator_api.put(
        f"/api/v1/operator/clearing/contracts/{node.pk}",
        {"cycle": "weekly", "net_debit_caps": {"KRW": "5000000"}},
        format="json",
    )
    assert (threshold.status_code, contract.status_code) == (200, 200)

    [set_threshold] = audited("clearing.threshold_set")
    assert set_threshold.actor_user == operator and set_threshold.is_operator_action
    assert set_threshold.data == {"currency": "KRW", "min_amount": 1_000_000}
    [set_contract] = audited("clearing.contract_set")
    assert set_contract.tenant == node.tenant  # the tenant sees it in its own audit log
    assert set_contract.data == {"cycle": "weekly", "net_debit_caps": {"KRW": 5_000_000}}


def test_operator_triggers_are_audited_with_their_job(ledger, operator_api):
    ledger.post(DAY, 1)
    close = operator_api.post("/api/v1/operator/clearing/close", {}, format="json")
    verify = operator_api.post("/api/v1/operator/clearing/verify")
    assert (close.status_code, verify.status_code) == (202, 202)
    [queued_close] = audited("clearing.close_queued")
    assert queued_close.target_id == str(close.json()["id"])
    assert queued_close.data["label"] == DAY.isoformat()
    assert len(audited("clearing.verify_queued")) == 1


def test_only_operators_run_the_anchor_check(alice):
    response = alice.api.post("/api/v1/operator/clearing/verify")
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_a_tenant_lists_the_platforms_jobs_and_its_own_never_anothers(alice, outsider):
    platform = Job.objects.create(kind="close", label="2025-03-10", triggered_by="schedule")
    mine = Job.objects.create(
        kind="clock_close", label="2025-03-10/1", triggered_by="advance", tenant=alice.tenant
    )
    theirs = Job.objects.create(
        kind="clock_close", label="2025-03-10/2", triggered_by="advance", tenant=outsider.tenant
    )

    response = alice.api.get("/api/v1/clearing/jobs")

    assert response.status_code == 200
    ids = {job["id"] for job in response.json()}
    assert ids == {platform.pk, mine.pk} and theirs.pk not in ids
    assert not ClockClose.objects.exists()


def test_the_first_close_cannot_start_before_the_ledgers_first_day(ledger):
    ledger.post(DAY, 1)
    with pytest.raises(ApplicationError) as refused:
        closing.close_day(day=DAY - timedelta(days=365), triggered_by="test")
    assert refused.value.code == "day_before_ledger"
    assert closing.close_day(day=DAY, triggered_by="test").result == "closed"


def test_the_api_refuses_a_first_close_before_the_ledger(
    ledger, operator_api, celery_eager, django_capture_on_commit_callbacks
):
    ledger.post(DAY, 1)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(
            "/api/v1/operator/clearing/close",
            {"date": (DAY - timedelta(days=30)).isoformat()},
            format="json",
        )
    # Queued, then refused by the close itself: the job says why.
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed" and "ledger's first day" in job.error


def test_tenants_see_their_nodes_contracts_and_operators_set_them_in_the_dashboard(
    alice, outsider, operator, client
):
    mine, theirs = NodeFactory(tenant=alice.tenant), NodeFactory(tenant=outsider.tenant)
    client.force_login(operator)

    saved = client.post(
        f"/clearing/contracts/{mine.pk}/", {"cycle": "weekly", "cap_KRW": "5000000", "cap_USD": ""}
    )
    refused = client.post(f"/clearing/contracts/{theirs.pk}/", {"cycle": "daily", "cap_KRW": "1.5"})

    assert saved.status_code == 302 and refused.status_code == 302
    listed = {row["node"]: row for row in alice.api.get("/api/v1/clearing/contracts").json()}
    assert set(listed) == {str(mine.pk)}
    assert (listed[str(mine.pk)]["cycle"], listed[str(mine.pk)]["net_debit_caps"]) == (
        "weekly",
        {"KRW": "5000000"},
    )
    assert len(audited("clearing.contract_set")) == 1  # the refused one changed nothing
    page = client.get("/clearing/").content.decode()
    assert "Settlement contracts" in page and theirs.name in page


def test_only_operators_set_contracts_in_the_dashboard(alice, client):
    node = NodeFactory(tenant=alice.tenant)
    client.force_login(alice.owner)
    assert client.post(f"/clearing/contracts/{node.pk}/", {"cycle": "weekly"}).status_code == 403
    assert "Weekly" not in client.get("/clearing/").content.decode()


@pytest.mark.parametrize("amount", [" 1000000", "1e6", "+1000000", "1_000_000", 1000000])
def test_thresholds_and_caps_take_amounts_in_the_one_grammar(ledger, operator_api, amount):
    node = NodeFactory()
    threshold = operator_api.put(
        "/api/v1/operator/clearing/thresholds",
        {"currency": "KRW", "min_amount": amount},
        format="json",
    )
    contract = operator_api.put(
        f"/api/v1/operator/clearing/contracts/{node.pk}",
        {"cycle": "weekly", "net_debit_caps": {"KRW": amount}},
        format="json",
    )
    for response in (threshold, contract):
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_amount"
    assert audited("clearing.threshold_set") == audited("clearing.contract_set") == []
