"""The settlement API as a client uses it: a contract, a cycle run now, batches listed and
filtered, the statement CSV and its platform signature checked with joserfc; bad input
answers 4xx with a code and changes nothing."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest
from joserfc import jws as jose_jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from sandbox.events.models import Event, ScheduledAction
from sandbox.tenants.services import SYSTEM
from tests.helpers import error_code, ledger_state
from wallets.banknet import bank_accounts, links
from wallets.merchant_settlement import services
from wallets.merchant_settlement.models import SettlementBatch, SettlementContract

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def _body(market, **extra) -> dict:
    return {
        "account_id": str(market.account.pk),
        "link_id": str(market.link.pk),
        "cycle": "daily",
        "delay_days": 1,
        "fee_rate_bps": 250,
        "fixed_fee": "100",
        "minimum_payout": "1000",
        **extra,
    }


def _url(market) -> str:
    return f"/api/v1/nodes/{market.merchant.pk}/settlement_contract"


def test_a_contract_is_created_read_and_changed(market, alice):
    created = alice.api.post(_url(market), _body(market), format="json")
    assert created.status_code == 201, created.content
    contract = created.json()
    assert contract["next_run_date"] == "2026-09-16"  # Tuesday's sales, paid Wednesday
    assert (contract["fixed_fee"], contract["minimum_payout"]) == ("100", "1000")
    assert alice.api.get(_url(market)).json() == contract
    changed = alice.api.patch(_url(market), {"cycle": "weekly"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["cycle"] == "weekly"
    assert changed.json()["next_run_date"] == "2026-09-21"  # the next Monday
    assert changed.json()["fee_rate_bps"] == 250
    pending = ScheduledAction.objects.filter(kind=services.CYCLE_KIND, status="pending")
    assert [a.payload["run_date"] for a in pending] == ["2026-09-21"]


def _unverified_link(market):
    other = bank_accounts.bank_account_create(
        tenant=market.tenant,
        actor=SYSTEM,
        bank_code="004",
        account_number="900-100-999999",
        holder_name="Gangnam Coffee",
    )
    return links.account_link_start(
        node=market.merchant,
        actor=SYSTEM,
        bank_code="004",
        account_number=other.account_number,
        holder_name="Gangnam Coffee",
    )


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (lambda m: {"link_id": str(_unverified_link(m).pk)}, 409, "link_not_verified"),
        (lambda m: {"account_id": str(m.payer_account.pk)}, 422, "account_not_for_node"),
        (lambda m: {"link_id": "6f7d6a6e-0000-4000-8000-000000000000"}, 404, None),
        (lambda m: {"cycle": "hourly"}, 400, None),
        (lambda m: {"fee_rate_bps": 10_001}, 400, "invalid_fee_rate"),
        (lambda m: {"delay_days": 0}, 400, "invalid_delay_days"),
        (lambda m: {"delay_days": 11}, 400, "invalid_delay_days"),
        (lambda m: {"fixed_fee": "-1"}, 400, None),
        (lambda m: {"minimum_payout": 1000}, 400, "invalid_amount"),
        (lambda m: {"fixed_fee": "0.5"}, 400, None),  # KRW has no minor unit
        (lambda m: {"surprise": "x"}, 400, "unknown_field"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(market, alice, change, status, code):
    body = _body(market, **change(market))
    before = (ledger_state(), Event.objects.count(), ScheduledAction.objects.count())
    response = alice.api.post(_url(market), body, format="json")
    assert response.status_code == status, response.content
    if code:
        assert error_code(response) == code
    assert not SettlementContract.objects.exists()
    assert (ledger_state(), Event.objects.count(), ScheduledAction.objects.count()) == before


def test_a_second_contract_and_an_empty_run_are_conflicts(market, alice):
    assert alice.api.post(_url(market), _body(market), format="json").status_code == 201
    again = alice.api.post(_url(market), _body(market), format="json")
    assert (again.status_code, error_code(again)) == (409, "contract_exists")
    empty = alice.api.post(f"{_url(market)}/run")
    assert (empty.status_code, error_code(empty)) == (409, "nothing_to_settle")
    immutable = alice.api.patch(_url(market), {"account_id": str(market.account.pk)}, format="json")
    assert (immutable.status_code, error_code(immutable)) == (400, "account_immutable")
    assert not SettlementBatch.objects.exists()


def _jwks(anonymous) -> KeySet:
    keys = anonymous.get("/jwks/platform.json").json()["keys"]
    return KeySet.import_key_set(
        {"keys": [{k: key[k] for k in ("kty", "crv", "x", "kid")} for key in keys]}
    )


def test_a_batch_is_listed_and_its_statement_verifies(market, alice, anonymous):
    assert alice.api.post(_url(market), _body(market), format="json").status_code == 201
    order = market.pay(12_345)
    market.pay(1_000)
    market.refund(order, 345)
    run = alice.api.post(f"{_url(market)}/run")
    assert run.status_code == 201, run.content
    batch = run.json()
    # 12,345 x 2.5 % = 308.625 -> 309 + 100; VAT 40. 1,000 -> 25 + 100; VAT 12.
    assert (batch["gross"], batch["refunds"], batch["fees"], batch["vat"]) == (
        "13345",
        "345",
        "534",
        "52",
    )
    assert batch["net"] == batch["payout_amount"] == str(13_345 - 345 - 534 - 52)
    assert batch["status"] == "posted" and batch["trigger"] == "manual"

    listed = alice.api.get("/api/v1/settlement_batches", {"status": "posted"}).json()
    assert [row["id"] for row in listed["results"]] == [batch["id"]]
    node_filter = {"node": str(market.payer.pk)}
    assert alice.api.get("/api/v1/settlement_batches", node_filter).json()["results"] == []
    bad = alice.api.get("/api/v1/settlement_batches", {"status": "lost"})
    assert (bad.status_code, error_code(bad)) == (400, "invalid_parameter")
    detail = alice.api.get(f"/api/v1/settlement_batches/{batch['id']}")
    assert detail.json() == batch

    download = alice.api.get(f"/api/v1/settlement_batches/{batch['id']}/statement.csv")
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    content = download.content
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert [r["record"] for r in rows] == ["order", "order", "refund", "carried_in", "total"]
    assert sorted(r["amount"] for r in rows[:3]) == ["-345", "1000", "12345"]
    assert (rows[-1]["fee"], rows[-1]["vat"], rows[-1]["net"]) == ("534", "52", batch["net"])
    assert sum(int(r["net"]) for r in rows[:-1]) == int(batch["net"])

    signature = alice.api.get(f"/api/v1/settlement_batches/{batch['id']}/statement_signature")
    signed = signature.json()
    digest = hashlib.sha256(content).digest()
    assert signed["sha256"] == digest.hex()
    assert signed["jws"] == download["Statement-Signature"]
    assert signed["jwks_url"].endswith("/jwks/platform.json")
    verified = jose_jws.deserialize_compact(
        signed["jws"], _jwks(anonymous), algorithms=["EdDSA"], payload=digest
    )
    assert verified.headers()["typ"] == "fsbx.settlement-statement+jws"
    tampered = hashlib.sha256(content.replace(b"12345", b"12346")).digest()
    with pytest.raises(BadSignatureError):
        jose_jws.deserialize_compact(
            signed["jws"], _jwks(anonymous), algorithms=["EdDSA"], payload=tampered
        )
    # the same bytes and signature on every download
    again = alice.api.get(f"/api/v1/settlement_batches/{batch['id']}/statement.csv")
    assert again.content == content and again["Statement-Signature"] == signed["jws"]
