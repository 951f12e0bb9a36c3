"""The clearing API: proofs for your own transactions only, downloads, operators' jobs."""

from __future__ import annotations

import struct
from datetime import timedelta

import pytest
from bitcoin.core import CBlock
from bitcoinutils.block import Block as UtilsBlock
from rest_framework.test import APIClient

from clearing import closing, verify_proof
from clearing.chain import EmbeddedChain
from clearing.merkle import verify_consistency
from clearing.models import DayClose, Job
from clearing.ots import verify_ots
from tests.clearing.conftest import DAY
from tests.factories import api_key_for
from tests.helpers import verify_offline

pytestmark = pytest.mark.django_db


def client_for(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(tenant)}")
    return client


@pytest.fixture
def closed_day(ledger):
    txns = ledger.post(DAY, 5)
    closing.close_day(day=DAY, triggered_by="test")
    return txns


def test_a_tenant_downloads_a_proof_that_verifies_offline(ledger, closed_day, tmp_path):
    api = client_for(ledger.tenant)
    txn = closed_day[3]
    response = api.get(f"/api/v1/transactions/{txn.uuid}/proof")
    assert response.status_code == 200, response.content
    doc = response.json()
    assert doc["subject"]["transaction"] == str(txn.uuid)
    assert doc["anchor"]["label"] == "2025-03-10"
    checks = verify_proof.verify(doc)
    assert any(f"the leaf is transaction {txn.uuid}" in line for line in checks)
    assert checks[-1].startswith("the day is entry 0 of the close log")
    result = verify_offline(doc, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_another_tenant_gets_404_for_the_proof(ledger, closed_day, outsider):
    response = outsider.api.get(f"/api/v1/transactions/{closed_day[0].uuid}/proof")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "transaction_not_found"


def test_a_proof_waits_for_the_close(ledger, closed_day):
    later = ledger.post(DAY + timedelta(days=1), 1)[0]
    response = client_for(ledger.tenant).get(f"/api/v1/transactions/{later.uuid}/proof")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "day_not_closed"


def test_the_ots_download_verifies_against_the_chain(ledger, closed_day):
    api = client_for(ledger.tenant)
    response = api.get("/api/v1/clearing/closes/2025-03-10/proof.ots")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    result = verify_ots(response.content, EmbeddedChain().header)
    close = DayClose.objects.get(day=DAY)
    assert result.digest.hex() == close.root and result.height == close.anchor.height
    assert api.get("/api/v1/clearing/closes/2025-03-11/proof.ots").status_code == 404
    assert api.get("/api/v1/clearing/closes/yesterday/proof.ots").status_code == 400


def test_the_chain_downloads_as_a_regtest_block_file(ledger, closed_day, operator_api):
    for api in (client_for(ledger.tenant), operator_api):
        response = api.get("/api/v1/clearing/chain")
        assert response.status_code == 200
        data, offset, blocks = response.content, 0, []
        while offset < len(data):
            magic, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
            record = data[offset : offset + 8 + size]
            assert UtilsBlock.from_raw(record).get_magic_bytes()[1] == "regtest"
            blocks.append(CBlock.deserialize(record[8:]))
            assert magic == bytes.fromhex("fabfb5da")
            offset += 8 + size
        assert [b.GetHash() for b in blocks] == [
            CBlock.deserialize(raw).GetHash() for raw in EmbeddedChain().blocks()
        ]
    summary = client_for(ledger.tenant).get("/api/v1/clearing/chain?format=json").json()
    assert [b["kind"] for b in summary["blocks"]] == ["genesis", "day"]
    assert summary["blocks"][1]["prev_hash"] == summary["blocks"][0]["block_hash"]


def test_close_log_consistency_proofs_verify(ledger):
    for offset in range(3):
        ledger.post(DAY + timedelta(days=offset), 2)
    closing.close_day(day=DAY + timedelta(days=2), triggered_by="test")
    api = client_for(ledger.tenant)
    head = api.get("/api/v1/clearing/log").json()
    assert head["size"] == 3
    body = api.get("/api/v1/clearing/log?first=1&second=3").json()
    assert body["second_root"] == head["root"]
    first_close = DayClose.objects.get(sequence=0)
    assert body["first_root"] == first_close.log_root
    assert verify_consistency(
        1,
        3,
        bytes.fromhex(body["first_root"]),
        bytes.fromhex(body["second_root"]),
        [bytes.fromhex(h) for h in body["proof"]],
    )
    assert api.get("/api/v1/clearing/log?first=4&second=3").status_code == 400


def test_closes_are_listed_for_tenants(ledger, closed_day):
    body = client_for(ledger.tenant).get("/api/v1/clearing/closes").json()
    assert [(c["day"], c["transactions"], c["status"]) for c in body] == [
        ("2025-03-10", 5, "closed")
    ]


def test_only_operators_close_and_see_jobs(ledger, alice):
    assert alice.api.post("/api/v1/operator/clearing/close", {}, format="json").status_code == 403
    assert alice.api.get("/api/v1/operator/clearing/jobs").status_code == 403


def test_an_operator_closes_now_and_retries_a_failed_job(
    ledger, operator_api, celery_eager, django_capture_on_commit_callbacks
):
    ledger.post(DAY, 2)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post("/api/v1/operator/clearing/close", {}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued" and response.json()["label"] == "2025-03-10"
    jobs = operator_api.get("/api/v1/operator/clearing/jobs").json()
    assert jobs[0]["status"] == "done" and jobs[0]["count"] == 2
    assert DayClose.objects.get(day=DAY).is_closed

    failed = Job.objects.create(kind="close", label="2025-03-10", status="failed", error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        retried = operator_api.post(f"/api/v1/operator/clearing/jobs/{failed.pk}/retry")
    assert retried.status_code == 202
    retry = Job.objects.get(pk=retried.json()["id"])
    assert retry.retry_of == failed and retry.status == "done" and retry.note == "Already closed."
    again = operator_api.post(f"/api/v1/operator/clearing/jobs/{retry.pk}/retry")
    assert again.status_code == 409
    assert operator_api.post("/api/v1/operator/clearing/jobs/nope/retry").status_code == 404
