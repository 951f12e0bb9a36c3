"""Large inter-node transactions: anchored within the minute, readable by their two nodes
and the operators only."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from bitcoin.core import CBlock
from rest_framework.test import APIClient

from clearing import records, tasks
from clearing.chain import EmbeddedChain, check_block
from clearing.encoding import decode_transaction, leaf_for
from clearing.models import AnchoredRecord, AnchorThreshold, Job
from clearing.verification import verify_anchors
from tests.clearing.conftest import DAY
from tests.factories import AccountFactory, MembershipFactory, NodeFactory, api_key_for, fund
from wallets import services as wallet_services
from wallets.services import TransferRequest

pytestmark = pytest.mark.django_db


def transfer(ledger, source, destination, amount):
    return wallet_services.transfer_create(
        tenant=ledger.tenant,
        request=TransferRequest(
            source=source, destination=destination, amount=amount, currency="KRW"
        ),
    ).transaction


@pytest.fixture
def large(ledger):
    """A KRW threshold of 1,000,000 and, on DAY: a large inter-node transfer, a small one,
    and a large transfer inside one node."""
    AnchorThreshold.objects.create(currency="KRW", min_amount=1_000_000)
    ledger_time = ledger_noon()
    ledger.at(ledger_time)
    fund(ledger.a, 5_000_000)
    second_account = AccountFactory(node=ledger.seoul, currency="KRW")
    big = transfer(ledger, ledger.a, ledger.b, 2_000_000)
    small = transfer(ledger, ledger.a, ledger.b, 999_999)
    inside = transfer(ledger, ledger.a, second_account, 1_500_000)
    ledger.at(ledger_time + timedelta(minutes=1))
    return {"big": big, "small": small, "inside": inside}


def ledger_noon():
    from tests.clearing.conftest import noon

    return noon(DAY)


def test_only_large_inter_node_transactions_are_anchored(ledger, large):
    done = records.anchor_large_transactions()
    assert [r.transaction_id for r in done] == [large["big"].id]
    record = done[0]
    assert sorted(record.nodes.values_list("id", flat=True)) == sorted(
        [ledger.seoul.pk, ledger.busan.pk]
    )
    anchor = EmbeddedChain().find(kind="transaction", label=f"tx-{large['big'].uuid.hex}")
    assert anchor.root.hex() == record.digest == hashlib.sha256(bytes(record.envelope)).hexdigest()
    check_block(CBlock.deserialize(EmbeddedChain().raw_block(anchor.height)))
    assert records.anchor_large_transactions() == []  # once
    assert AnchoredRecord.objects.count() == 1


def test_both_nodes_and_the_operators_read_the_record_and_nobody_else(ledger, large):
    (record,) = records.anchor_large_transactions()
    leaf = leaf_for(large["big"].id)
    assert records.open_for_node(record, ledger.seoul) == leaf
    assert records.open_for_node(record, ledger.busan) == leaf
    assert records.open_for_operators(record) == leaf
    assert decode_transaction(leaf).uuid == large["big"].uuid
    stranger = NodeFactory()
    with pytest.raises(records.RecordError, match="not encrypted for this reader"):
        records.open_for_node(record, stranger)
    # A reader entry cannot be opened with another key either.
    with pytest.raises(records.RecordError, match="cannot open"):
        records.open_envelope(
            bytes(record.envelope),
            txn_uuid=large["big"].uuid,
            kind=records.NODE,
            reader_id=ledger.seoul.pk.bytes,
            key=records.node_key(stranger),
        )
    tampered = bytearray(record.envelope)
    tampered[30] ^= 1
    with pytest.raises(records.RecordError):
        records.open_envelope(
            bytes(tampered),
            txn_uuid=large["big"].uuid,
            kind=records.OPERATORS,
            reader_id=bytes(16),
            key=records.operators_key(),
        )


def test_the_scan_rereads_recent_transactions_before_moving_on(ledger, large):
    from clearing.models import AnchorCursor

    records.anchor_large_transactions()
    # Everything was posted a minute ago: the cursor waits (ids may still commit late).
    assert AnchorCursor.objects.get().last_transaction_id == 0
    ledger.at(ledger_noon() + timedelta(minutes=10))
    records.anchor_large_transactions()
    assert AnchorCursor.objects.get().last_transaction_id == large["inside"].id


def test_the_periodic_task_records_a_job_per_anchoring(ledger, large):
    assert tasks.anchor_large_transactions() == 1
    job = Job.objects.get(kind="anchor")
    assert job.label == str(large["big"].uuid) and job.status == "done"
    assert job.block_height == AnchoredRecord.objects.get().anchor.height


def test_tenants_read_their_records_over_the_api(ledger, large, outsider):
    records.anchor_large_transactions()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(ledger.tenant)}")
    body = api.get(f"/api/v1/transactions/{large['big'].uuid}/record").json()
    assert body["record"]["amount"] == 2_000_000
    assert body["anchor"]["label"] == f"tx-{large['big'].uuid.hex}"
    envelope = base64.b64decode(body["envelope"])
    assert hashlib.sha256(envelope).hexdigest() == body["digest"]
    # Offline: with the node's key, the envelope opens without the sandbox.
    assert api.get(f"/api/v1/nodes/{ledger.busan.pk}/record_key").status_code == 403  # a key
    owner = APIClient()
    owner.force_login(MembershipFactory(tenant=ledger.tenant).user)
    response = owner.get(f"/api/v1/nodes/{ledger.busan.pk}/record_key")
    key = base64.b64decode(response.json()["key"])
    plaintext = records.open_envelope(
        envelope,
        txn_uuid=large["big"].uuid,
        kind=records.NODE,
        reader_id=ledger.busan.pk.bytes,
        key=key,
    )
    assert plaintext == leaf_for(large["big"].id)
    assert outsider.api.get(f"/api/v1/transactions/{large['big'].uuid}/record").status_code == 404
    other_owner = APIClient()
    other_owner.force_login(outsider.owner)
    assert other_owner.get(f"/api/v1/nodes/{ledger.busan.pk}/record_key").status_code == 404
    assert api.get(f"/api/v1/transactions/{large['small'].uuid}/record").status_code == 404


def test_operators_read_records_and_set_thresholds(ledger, large, operator_api):
    records.anchor_large_transactions()
    body = operator_api.get(f"/api/v1/operator/clearing/records/{large['big'].uuid}").json()
    assert body["record"]["id"] == large["big"].id
    response = operator_api.put(
        "/api/v1/operator/clearing/thresholds",
        {"currency": "USD", "min_amount": "10000.00"},
        format="json",
    )
    assert response.status_code == 200
    assert {"currency": "USD", "min_amount": "10000.00"} in response.json()
    assert AnchorThreshold.objects.get(currency="USD").min_amount == 1_000_000
    bad = operator_api.put(
        "/api/v1/operator/clearing/thresholds",
        {"currency": "USD", "min_amount": "1.001"},
        format="json",
    )
    assert bad.status_code == 400


def test_verify_anchors_notices_a_changed_record(ledger, large):
    from django.db import connection, transaction

    records.anchor_large_transactions()
    assert verify_anchors().ok
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(
                "UPDATE wallets_ledgertransaction SET memo = 'forged' WHERE id = %s",
                [large["big"].id],
            )
        report = verify_anchors()
        transaction.set_rollback(True)
    assert [(p.kind, p.transaction_id) for p in report.problems] == [("changed", large["big"].id)]
