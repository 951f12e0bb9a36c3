"""The clearing keyring (CLEARING_MASTER_KEY): parsing, legacy keys, rotation, verification
and the deploy check."""

from __future__ import annotations

import os
import uuid

import pytest
from celery import current_app
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from clearing import keys, records
from clearing.models import AnchoredRecord, RecordKey
from clearing.verification import verify_anchors
from sandbox.config import env_keyring
from tests.clearing import test_records
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

large = test_records.large  # the fixture: a large inter-node transfer on DAY

KEY_A = "a" * 20 + "-secret-key-one-AAAA"
KEY_B = "b" * 20 + "-secret-key-two-BBBB"
key_id = keys.DERIVATION.key_id


# --- Parsing ---------------------------------------------------------------------------------


def test_a_keyring_is_a_comma_separated_list_newest_first(monkeypatch, tmp_path):
    monkeypatch.setenv("CLEARING_MASTER_KEY", f" {KEY_A} , {KEY_B}")
    assert env_keyring("CLEARING_MASTER_KEY") == [KEY_A, KEY_B]
    monkeypatch.delenv("CLEARING_MASTER_KEY")
    assert env_keyring("CLEARING_MASTER_KEY") == []
    secret = tmp_path / "key"
    secret.write_text(KEY_B + "\n")
    monkeypatch.setenv("CLEARING_MASTER_KEY_FILE", str(secret))
    assert env_keyring("CLEARING_MASTER_KEY") == [KEY_B]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("short", "at least 32 characters"),
        (f"{KEY_A},,{KEY_B}", "key 2 of the list is empty"),
        (f"{KEY_A},", "key 2 of the list is empty"),
        ("a passphrase with spaces in it, long enough", "without spaces"),
        (f"{KEY_A},{KEY_A}", "listed twice"),
    ],
)
def test_a_bad_keyring_stops_the_start(monkeypatch, value, message):
    monkeypatch.setenv("CLEARING_MASTER_KEY", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_keyring("CLEARING_MASTER_KEY")


def test_the_first_key_wraps_and_every_key_unwraps(settings):
    settings.CLEARING_MASTER_KEY = [KEY_A, KEY_B]
    ring = keys.keyring()
    assert ring.primary == key_id(KEY_A)
    assert set(ring.keys) == {key_id(KEY_A), key_id(KEY_B), keys.LEGACY}
    kid, wrapped = ring.seal(b"k" * 32, aad=b"aad")
    assert kid == ring.primary and ring.open(kid, wrapped, aad=b"aad") == b"k" * 32
    settings.CLEARING_MASTER_KEY = []
    assert keys.keyring().primary == keys.LEGACY


# --- The stored format, unchanged by the shared keyring (sandbox.keyring) ---------------------


def _hkdf_as_before(secret: str, info: bytes) -> bytes:
    """The derivation clearing.keys wrote by hand before it used the shared keyring."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fsbx-clearing", info=info)
    return hkdf.derive(secret.encode())


def _wrapped_as_before(secret: str, key: bytes, node_id) -> RecordKey:
    nonce = os.urandom(12)
    wrapped = nonce + AESGCM(_hkdf_as_before(secret, b"master")).encrypt(nonce, key, node_id.bytes)
    return RecordKey(
        node_id=node_id, key_id=_hkdf_as_before(secret, b"key-id").hex()[:16], wrapped=wrapped
    )


def test_a_record_key_wrapped_before_the_shared_keyring_still_unwraps(settings):
    settings.CLEARING_MASTER_KEY = [KEY_B, KEY_A]
    node_id = uuid.uuid4()
    under_a = _wrapped_as_before(KEY_A, b"a" * 32, node_id)
    assert under_a.key_id == key_id(KEY_A)
    assert keys.unwrap_row(under_a) == b"a" * 32
    under_legacy = _wrapped_as_before(settings.SECRET_KEY, b"l" * 32, node_id)
    under_legacy.key_id = keys.LEGACY
    assert keys.unwrap_row(under_legacy) == b"l" * 32
    # The associated data still names the node: the same blob as another node's does not.
    under_a.node_id = uuid.uuid4()
    with pytest.raises(keys.KeyringError, match="does not open"):
        keys.unwrap_row(under_a)


# --- Legacy records --------------------------------------------------------------------------


def _derived_operators_key() -> bytes:
    return keys.DERIVATION.derive(keys.legacy_master(), b"operators")


def legacy_record(monkeypatch):
    """An anchored record as written before the keyring: node keys wrapped under the key
    derived from SECRET_KEY, the operators' key derived (not stored)."""
    monkeypatch.setattr(keys, "_first_operators_key", _derived_operators_key)
    (record,) = records.anchor_large_transactions()
    RecordKey.objects.filter(operators=True).delete()
    monkeypatch.undo()
    assert set(RecordKey.objects.values_list("key_id", flat=True)) == {keys.LEGACY}
    return record


def test_a_record_written_under_the_legacy_key_reads_after_the_keyring_is_set(
    ledger, large, settings, monkeypatch
):
    record = legacy_record(monkeypatch)
    settings.CLEARING_MASTER_KEY = [KEY_A]
    leaf = records.open_for_operators(record)
    assert records.open_for_node(record, ledger.seoul) == leaf
    assert records.open_for_node(record, ledger.busan) == leaf
    # The operators' key is now stored, under the new key; new node keys too.
    assert RecordKey.objects.get(operators=True).key_id == key_id(KEY_A)


# --- Deploy check ----------------------------------------------------------------------------


def _clearing_ids(*, deploy: bool) -> list[str]:
    messages = checks.run_checks(include_deployment_checks=deploy, tags=[checks.Tags.security])
    return [message.id for message in messages if message.id.startswith("clearing.")]


def test_production_needs_a_keyring(settings):
    settings.DEBUG = False
    settings.CLEARING_MASTER_KEY = []
    assert _clearing_ids(deploy=False) == []
    assert _clearing_ids(deploy=True) == ["clearing.E001"]
    settings.CLEARING_MASTER_KEY = [KEY_A]
    assert _clearing_ids(deploy=True) == []
    settings.DEBUG = True
    settings.CLEARING_MASTER_KEY = []
    assert _clearing_ids(deploy=True) == []


# --- Verification ----------------------------------------------------------------------------


def test_verify_anchors_checks_the_record_keys(ledger, large, settings, monkeypatch, capsys):
    legacy_record(monkeypatch)
    settings.CLEARING_MASTER_KEY = [KEY_A]
    report = verify_anchors()
    assert report.ok, report.problems
    assert report.record_keys_checked == 2  # the nodes' (the operators' is stored on first use)
    call_command("verify_anchors")
    assert "3 record keys" in capsys.readouterr().out  # and now the operators' too


def test_verify_anchors_fails_when_secret_key_changed(ledger, large, settings, monkeypatch):
    legacy_record(monkeypatch)
    records.open_for_operators(AnchoredRecord.objects.get())  # stores the operators' key
    settings.SECRET_KEY = "another-secret-key-after-a-restore-" + "x" * 20
    report = verify_anchors()
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == ["record", "record-key", "record-key", "record-key"], report.problems
    assert any("node " in str(p) and "does not open" in str(p) for p in report.problems)
    with pytest.raises(CommandError, match="Anchors do NOT match: 4 problem"):
        call_command("verify_anchors")


def test_verify_anchors_fails_when_the_keyring_lost_a_key(ledger, large, settings):
    settings.CLEARING_MASTER_KEY = [KEY_A]
    records.anchor_large_transactions()
    assert verify_anchors().ok
    settings.CLEARING_MASTER_KEY = [KEY_B]  # KEY_A dropped: nothing unwraps
    problems = verify_anchors().problems
    assert {p.kind for p in problems} == {"record", "record-key"}
    assert sum(p.kind == "record-key" for p in problems) == 3
    assert all("not in the clearing-record-keys keyring" in p.message for p in problems)


# --- Rotation --------------------------------------------------------------------------------


def test_rotation_rewraps_every_key_and_records_still_open(
    ledger, large, settings, monkeypatch, capsys
):
    record = legacy_record(monkeypatch)
    leaf = records.open_for_operators(record)  # stores the operators' key (legacy derivation)
    settings.CLEARING_MASTER_KEY = [KEY_A]
    call_command("rotate_record_keys", batch=2)
    out = capsys.readouterr().out
    assert "3/3 record keys done" in out and "Re-wrapped 3 record key(s)" in out
    assert set(RecordKey.objects.values_list("key_id", flat=True)) == {key_id(KEY_A)}
    settings.SECRET_KEY = "the-secret-key-may-now-change-" + "y" * 30
    assert records.open_for_operators(record) == leaf
    assert records.open_for_node(record, ledger.seoul) == leaf
    assert verify_anchors().ok
    # A new first key: the old one stays in the keyring until the rotation is done.
    settings.CLEARING_MASTER_KEY = [KEY_B, KEY_A]
    call_command("rotate_record_keys")
    assert set(RecordKey.objects.values_list("key_id", flat=True)) == {key_id(KEY_B)}
    settings.CLEARING_MASTER_KEY = [KEY_B]
    assert records.open_for_node(record, ledger.busan) == leaf
    call_command("rotate_record_keys")  # nothing left to do
    assert "Re-wrapped 0 record key(s)" in capsys.readouterr().out


def test_rotation_stores_the_operators_key_before_secret_key_may_change(
    ledger, large, settings, monkeypatch
):
    # As the docs say: set the keyring, rotate once, then change SECRET_KEY. Nobody had
    # opened a record as an operator yet, so the operators' key was never stored.
    record = legacy_record(monkeypatch)
    leaf = records.open_for_node(record, ledger.seoul)
    settings.CLEARING_MASTER_KEY = [KEY_A]
    call_command("rotate_record_keys")
    assert RecordKey.objects.get(operators=True).key_id == key_id(KEY_A)
    settings.SECRET_KEY = "the-secret-key-may-now-change-" + "z" * 30
    assert records.open_for_operators(record) == leaf
    assert verify_anchors().ok


def test_an_interrupted_rotation_resumes(ledger, large, settings, monkeypatch):
    record = legacy_record(monkeypatch)
    leaf = records.open_for_operators(record)
    settings.CLEARING_MASTER_KEY = [KEY_A]
    real_seal = keys.Keyring.seal
    calls = []

    def failing_seal(self, key, *, aad):
        calls.append(aad)
        if len(calls) == 2:  # batches of one key: the second batch fails
            raise RuntimeError("worker lost")
        return real_seal(self, key, aad=aad)

    monkeypatch.setattr(keys.Keyring, "seal", failing_seal)
    with pytest.raises(RuntimeError):
        keys.rotate(batch=1)
    monkeypatch.setattr(keys.Keyring, "seal", real_seal)
    done = list(RecordKey.objects.order_by("pk").values_list("key_id", flat=True))
    assert done.count(key_id(KEY_A)) == 1  # the first batch committed, the second not
    assert keys.rotate(batch=1).rewrapped == 2  # the first is skipped
    assert set(RecordKey.objects.values_list("key_id", flat=True)) == {key_id(KEY_A)}
    assert records.open_for_operators(record) == leaf


def test_a_failure_inside_a_batch_rolls_the_batch_back(ledger, large, settings, monkeypatch):
    legacy_record(monkeypatch)
    records.open_for_operators(AnchoredRecord.objects.get())
    settings.CLEARING_MASTER_KEY = [KEY_A]
    real_seal = keys.Keyring.seal

    def failing_seal(self, key, *, aad):
        if RecordKey.objects.filter(key_id=key_id(KEY_A)).exists():
            raise RuntimeError("database lost")
        return real_seal(self, key, aad=aad)

    monkeypatch.setattr(keys.Keyring, "seal", failing_seal)
    with pytest.raises(RuntimeError):
        keys.rotate(batch=10)
    assert set(RecordKey.objects.values_list("key_id", flat=True)) == {keys.LEGACY}
    monkeypatch.setattr(keys.Keyring, "seal", real_seal)
    assert keys.rotate(batch=10).rewrapped == 3


def test_rotation_fails_on_a_key_the_keyring_cannot_unwrap(
    ledger, large, settings, monkeypatch, capsys
):
    legacy_record(monkeypatch)
    settings.SECRET_KEY = "restored-under-another-secret-key-" + "z" * 20
    settings.CLEARING_MASTER_KEY = [KEY_A]
    with pytest.raises(CommandError, match="2 record key"):
        call_command("rotate_record_keys")
    err = capsys.readouterr().err
    assert f"node {ledger.seoul.pk}'s key" in err and f"node {ledger.busan.pk}'s key" in err
    assert set(RecordKey.objects.values_list("key_id", flat=True)) == {keys.LEGACY}


def test_rotation_runs_as_a_task_by_name(ledger, large, settings, monkeypatch):
    legacy_record(monkeypatch)
    settings.CLEARING_MASTER_KEY = [KEY_A]
    result = current_app.tasks["clearing.tasks.rotate_record_keys"].apply().get()
    assert result == {"rewrapped": 2, "failures": []}


# --- A record key that does not unwrap, over the API ----------------------------------------


def test_a_record_key_that_does_not_unwrap_answers_503_record_key_unavailable(
    settings, ledger, large, operator_api
):
    settings.CLEARING_MASTER_KEY = [KEY_A]
    records.anchor_large_transactions()
    owner = APIClient()
    owner.force_login(MembershipFactory(tenant=ledger.tenant).user)
    key_path = f"/api/v1/nodes/{ledger.busan.pk}/record_key"
    record_path = f"/api/v1/transactions/{large['big'].uuid}/record"
    assert owner.get(key_path).status_code == 200
    # Restored under another key: the records' keys no longer unwrap.
    settings.CLEARING_MASTER_KEY = [KEY_B]

    answers = [
        owner.get(key_path),
        owner.get(record_path),
        operator_api.get(f"/api/v1/operator/clearing/records/{large['big'].uuid}"),
    ]

    for response in answers:
        assert response.status_code == 503, response.content
        error = response.json()["error"]
        assert error["code"] == "record_key_unavailable"
        assert "CLEARING_MASTER_KEY" in error["message"]
        assert key_id(KEY_A) not in error["message"]  # no key ids to clients
    problems = verify_anchors().problems
    assert any(key_id(KEY_A) in p.message for p in problems if p.kind == "record-key")
