"""A shop and a shopper's node of one tenant (alice), and helpers that walk the push
payment through the API as clients would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from joserfc import jws as jose_jws
from joserfc.jwk import KeySet

from tests.factories import NodeFactory, fund

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Shop:
    party: object
    merchant: object  # node
    payer: object  # node
    merchant_account: object
    payer_account: object

    @property
    def api(self):
        return self.party.api

    def post(self, path: str, body: dict, *, key: str | None = None):
        return self.api.post(
            path, body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4())
        )

    def create(self, order_id: str = "order-1", amount: str = "15000", **extra) -> dict:
        body = {
            "account_id": str(self.merchant_account.pk),
            "order_id": order_id,
            "amount": amount,
            "currency": "KRW",
            **extra,
        }
        response = self.post("/api/v1/payment_requests", body)
        assert response.status_code == 201, response.content
        return response.json()

    def authorize(self, request: dict, **extra) -> dict:
        body = {
            "request_jws": request["jws"],
            "account_id": str(self.payer_account.pk),
            **extra,
        }
        response = self.post(f"/api/v1/nodes/{self.payer.pk}/payment_authorizations", body)
        assert response.status_code == 201, response.content
        return response.json()

    def redeem(self, request: dict, token: str):
        return self.post(f"/api/v1/payment_requests/{request['id']}/redeem", {"token": token})


@pytest.fixture
def shop(alice) -> Shop:
    merchant = NodeFactory(tenant=alice.tenant, name="Gangnam Coffee")
    payer = NodeFactory(tenant=alice.tenant, name="Minjun's wallet")
    payer_account = payer.wallet.accounts.get()
    fund(payer_account, 100_000)
    return Shop(alice, merchant, payer, merchant.wallet.accounts.get(), payer_account)


def jose_verify(compact: str, jwks: dict) -> dict:
    """Verify with joserfc (a JOSE library none of us wrote) against a published JWKS."""
    key_set = KeySet.import_key_set(
        {"keys": [{k: v for k, v in key.items() if k in ("kty", "crv", "x", "kid", "alg", "use")}
                  for key in jwks["keys"]]}
    )  # fmt: skip
    obj = jose_jws.deserialize_compact(compact, key_set, algorithms=["EdDSA"])
    return json.loads(obj.payload)


def run_verifier(receipt: dict, workdir: Path) -> subprocess.CompletedProcess:
    """The receipt checked as a stranger would: the two verifier files alone in ``workdir``,
    run with ``-I -S`` (no environment, no site-packages, no sandbox)."""
    for name in ("verify_receipt.py", "verify_proof.py"):
        shutil.copy(ROOT / "clearing" / name, workdir / name)
    path = workdir / "receipt.json"
    path.write_text(json.dumps(receipt))
    return subprocess.run(
        [sys.executable, "-I", "-S", str(workdir / "verify_receipt.py"), str(path)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
