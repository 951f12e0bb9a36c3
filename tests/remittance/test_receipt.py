"""The remittance receipt proves every leg: each ledger transaction's inclusion proof once
its day closed, and the bitcoin transaction's Merkle branch to a block header. The offline
verifier (standard library only; python-bitcoinlib optional) accepts it and rejects forgeries."""

from __future__ import annotations

import copy
import json

from tests.remittance.conftest import run_verifier


def close_the_day(operator_api, capture) -> None:
    moved = operator_api.post(
        "/api/v1/operator/platform_clock/advance", {"seconds": 86_400}, format="json"
    )
    assert moved.status_code == 200, moved.content
    with capture(execute=True):
        closed = operator_api.post("/api/v1/operator/clearing/close", {}, format="json")
    assert closed.status_code == 202, closed.content


def test_the_receipt_verifies_offline_before_and_after_the_day_closes(
    corridor, operator_api, django_capture_on_commit_callbacks, tmp_path
):
    sent = corridor.send("200000")
    url = f"/api/v1/remittances/{sent['id']}/receipt"

    receipt = corridor.api.get(url).json()
    assert receipt["format"] == "fsbx-remittance-receipt/1"
    assert [leg["proof_error"] for leg in receipt["legs"]] == ["day_not_closed"] * 5
    assert receipt["bitcoin"]["txid"] == sent["bitcoin_txid"] or receipt["bitcoin"]["txid"]
    run = run_verifier(receipt, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no proof yet (day_not_closed)" in run.stdout
    assert "Merkle branch" in run.stdout
    assert run_verifier(receipt, tmp_path, "--require-proofs").returncode == 1

    close_the_day(operator_api, django_capture_on_commit_callbacks)

    receipt = corridor.api.get(url).json()
    assert all(leg["proof"] is not None for leg in receipt["legs"])
    run = run_verifier(receipt, tmp_path, "--require-proofs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("is in its anchored day") == 5
    assert "python-bitcoinlib not installed" in run.stdout
    deeper = run_verifier(receipt, tmp_path, "--require-proofs", isolated=False)
    assert deeper.returncode == 0, deeper.stdout + deeper.stderr
    assert "python-bitcoinlib: CheckTransaction and VerifyScript" in deeper.stdout

    # Forgeries fail.
    def forged(change) -> int:
        doc = copy.deepcopy(receipt)
        change(doc)
        return run_verifier(doc, tmp_path, "--require-proofs").returncode

    def more_sats(doc):
        doc["bitcoin"]["amount_sats"] += 1

    def other_branch(doc):
        branch = doc["bitcoin"]["tx_merkle_branch"]
        branch[0] = ("00" if branch[0][:2] != "00" else "11") + branch[0][2:]

    def swapped_proofs(doc):
        doc["legs"][0]["proof"], doc["legs"][1]["proof"] = (
            doc["legs"][1]["proof"],
            doc["legs"][0]["proof"],
        )

    def changed_tx(doc):
        raw = doc["bitcoin"]["transaction"]
        doc["bitcoin"]["transaction"] = raw[:-10] + ("0" if raw[-10] != "0" else "1") + raw[-9:]

    def other_receiver(doc):
        script = doc["bitcoin"]["receiver_script_pubkey"]
        doc["bitcoin"]["receiver_script_pubkey"] = script[:6] + "00" * 20 + script[46:]

    def dropped_leg(doc):
        doc["legs"].pop(2)

    def other_remittance(doc):
        doc["remittance"]["id"] = "00000000-0000-0000-0000-000000000000"

    for change in (
        more_sats,
        other_branch,
        swapped_proofs,
        changed_tx,
        other_receiver,
        dropped_leg,
        other_remittance,
    ):
        assert forged(change) == 1, change.__name__
    json.dumps(receipt)  # plain JSON throughout


def test_a_refunded_remittance_proves_its_reversals(
    corridor, operator_api, django_capture_on_commit_callbacks, tmp_path
):
    sent = corridor.send("200000", reference="FAIL_AT_SELL_BTC")
    close_the_day(operator_api, django_capture_on_commit_callbacks)
    receipt = corridor.api.get(f"/api/v1/remittances/{sent['id']}/receipt").json()
    assert [leg["kind"] for leg in receipt["legs"]] == ["debit_sender", "buy_btc", "send_btc"]
    assert all(leg["reversal"]["proof"] is not None for leg in receipt["legs"])
    run = run_verifier(receipt, tmp_path, "--require-proofs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("reversal") >= 3
