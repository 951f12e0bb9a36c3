"""The dashboard: a tester makes a contract, runs a cycle, and follows the batch with its
state, events and signed statement, as the API shows it."""

from __future__ import annotations

import hashlib

import pytest

from wallets.merchant_settlement.models import SettlementBatch, SettlementContract

pytestmark = pytest.mark.django_db


def test_a_tester_settles_a_merchant_from_the_browser(market, alice):
    web = alice.web
    assert web.get("/settlement/").status_code == 200
    form = {
        "account": str(market.account.pk),
        "link": str(market.link.pk),
        "cycle": "daily",
        "delay_days": "2",
        "fee_rate_bps": "300",
        "fixed_fee": "50",
        "minimum_payout": "0",
    }
    saved = web.post("/settlement/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    contract = SettlementContract.objects.get()
    assert (contract.delay_days, contract.fee_rate_bps, contract.fixed_fee) == (2, 300, 50)
    market.pay(10_000)
    run = web.post(f"/settlement/nodes/{market.merchant.pk}/run/")
    batch = SettlementBatch.objects.get()
    assert run.status_code == 302 and run["Location"] == f"/settlement/batches/{batch.pk}/"
    page = web.get(run["Location"]).content.decode()
    assert 'id="batch-status">posted<' in page
    assert "settlement_batch.posted" in page
    assert "9,615 KRW" in page  # 10,000 - (300 + 50) - 35
    csv = web.get(f"/settlement/batches/{batch.pk}/statement.csv")
    digest = hashlib.sha256(csv.content).hexdigest()
    assert f'id="statement-sha256">{digest}<' in page
    assert f'id="statement-jws">{csv["Statement-Signature"]}<' in page
    listing = web.get("/settlement/?status=posted").content.decode()
    assert str(batch.pk)[:8] in listing and "T+2" in listing


def test_a_refused_contract_shows_its_reason_and_saves_nothing(market, alice):
    link = market.link
    link.status = "pending"
    link.save(update_fields=["status"])
    form = {
        "account": str(market.account.pk),
        "link": str(link.pk),
        "cycle": "daily",
        "delay_days": "1",
        "fee_rate_bps": "300",
        "fixed_fee": "0",
        "minimum_payout": "0",
    }
    response = alice.web.post("/settlement/", form)
    assert response.status_code == 200
    assert not SettlementContract.objects.exists()
