"""A KRW -> JPY corridor of one tenant (alice): a Seoul node and a Tokyo node, and helpers
that send remittances through the API as a client would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import AccountFactory, NodeFactory, fund
from wallets.fx import services as fx_services
from wallets.models import Account

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Corridor:
    party: object
    seoul: object  # node, KR
    tokyo: object  # node, JP
    busan: object  # node, KR (same country as Seoul)
    sender: Account  # Seoul, KRW
    beneficiary: Account  # Tokyo, JPY
    capture: object

    @property
    def api(self):
        return self.party.api

    def post(self, path: str, body: dict):
        return self.api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    def send(self, amount: str = "200000", *, expect: int = 201, **extra) -> dict:
        body = {
            "sender_account_id": str(self.sender.pk),
            "beneficiary_account_id": str(self.beneficiary.pk),
            "amount": amount,
            "originator": {"name": "Kim Minjun", "address": "1 Sejong-daero, Seoul"},
            "beneficiary": {"name": "Sato Yui", "address": "1 Chiyoda, Tokyo"},
            **extra,
        }
        with self.capture(execute=True):
            response = self.post("/api/v1/remittances", body)
        assert response.status_code == expect, response.content
        return response.json()

    def get(self, remittance_id: str) -> dict:
        response = self.api.get(f"/api/v1/remittances/{remittance_id}")
        assert response.status_code == 200, response.content
        return response.json()

    def advance(self, remittance_id: str, status: str, *, expect: int = 200) -> dict:
        with self.capture(execute=True):
            response = self.post(
                f"/api/v1/test_helpers/remittances/{remittance_id}/advance", {"status": status}
            )
        assert response.status_code == expect, response.content
        return response.json()


@pytest.fixture
def corridor(alice, celery_eager, django_capture_on_commit_callbacks) -> Corridor:
    fx_services.pairs_seed()  # again, if a transactional test flushed the migrated table
    seoul = NodeFactory(tenant=alice.tenant, name="Seoul", country="KR", base_currency="KRW")
    tokyo = NodeFactory(tenant=alice.tenant, name="Tokyo", country="JP", base_currency="JPY")
    busan = NodeFactory(tenant=alice.tenant, name="Busan", country="KR", base_currency="KRW")
    sender = seoul.wallet.accounts.get()
    fund(sender, 1_000_000)
    beneficiary = tokyo.wallet.accounts.get()
    return Corridor(
        alice, seoul, tokyo, busan, sender, beneficiary, django_capture_on_commit_callbacks
    )


def balances() -> dict[str, int]:
    """Every account's posted balance, by id (accounts made later count from 0)."""
    return {str(a.pk): a.posted_balance for a in Account.objects.all()}


def changed(before: dict[str, int]) -> dict[str, int]:
    after = balances()
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def currency_sums() -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for account in Account.objects.all():
        sums[account.currency] += account.posted_balance
    return dict(sums)


def run_verifier(
    receipt: dict, workdir: Path, *args: str, isolated: bool = True
) -> subprocess.CompletedProcess:
    """The receipt checked as a stranger would: the two verifier files alone in ``workdir``;
    ``isolated`` adds ``-S`` (no site-packages: no python-bitcoinlib either)."""
    for name in ("verify_remittance.py", "verify_proof.py"):
        shutil.copy(ROOT / "clearing" / name, workdir / name)
    path = workdir / "receipt.json"
    path.write_text(json.dumps(receipt))
    flags = ["-I", "-S"] if isolated else ["-I"]
    return subprocess.run(
        [sys.executable, *flags, str(workdir / "verify_remittance.py"), str(path), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


__all__ = ["AccountFactory", "Corridor", "balances", "changed", "currency_sums", "run_verifier"]
