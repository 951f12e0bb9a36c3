"""A KRW -> JPY remittance over bitcoin, end to end: five legs, each a ledger transaction,
a signed bitcoin transaction mined into the chain, events for each state."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bitcoin.core import CBlock, CTransaction
from bitcoin.core.scripteval import SCRIPT_VERIFY_P2SH, VerifyScript
from django.core.management import call_command

from clearing.chain import check_block, get_chain, mined_transaction
from clearing.remittance import bitcoin
from clearing.remittance.models import Coin, Remittance
from sandbox.events.models import Event
from tests.factories import NodeFactory
from tests.helpers import error_code
from tests.remittance.conftest import balances, changed, currency_sums
from wallets.models import Account, LedgerTransaction

FORWARD = ["debit_sender", "buy_btc", "send_btc", "sell_btc", "credit_beneficiary"]


def test_a_krw_to_jpy_remittance_posts_every_leg_and_a_real_bitcoin_transaction(corridor):
    before = balances()

    sent = corridor.send("200000", memo="Rent for May")

    remittance = corridor.get(sent["id"])
    assert remittance["status"] == "outgoing_payment_sent"
    assert [leg["kind"] for leg in remittance["legs"]] == FORWARD
    assert remittance["source_amount"] == "200000" and remittance["source_currency"] == "KRW"
    assert remittance["target_currency"] == "JPY"
    # Each leg is one ledger transaction; the conversions carry their quote's rate and fee.
    for leg in remittance["legs"]:
        txn = LedgerTransaction.objects.get(uuid=leg["transaction_id"])
        assert txn.metadata["remittance"] == sent["id"] and txn.metadata["leg"] == leg["kind"]
    buy, send, sell = remittance["legs"][1:4]
    assert buy["rate"] and buy["reference_rate"] and buy["quote_id"] and buy["fee"] is not None
    assert sell["rate"] and sell["quote_id"] and sell["currency_out"] == "JPY"
    assert send["amount_in"] == buy["amount_out"] == remittance["btc_amount"]
    assert remittance["target_amount"] == sell["amount_out"]

    # The sender paid exactly the amount, the beneficiary got the sold amount, the transit
    # accounts are empty, and every currency still sums to zero.
    moved = changed(before)
    assert moved[str(corridor.sender.pk)] == -200_000
    target = int(remittance["target_amount"])
    assert target > 0 and moved[str(corridor.beneficiary.pk)] == target
    transit = Account.objects.filter(customer_reference="remittance-transit")
    assert transit.count() == 4 and all(a.posted_balance == 0 for a in transit)
    assert all(total == 0 for total in currency_sums().values()), currency_sums()

    # The bitcoin leg: from the Seoul node's address to the Tokyo node's, mined.
    mined = mined_transaction(remittance["bitcoin_txid"])
    assert mined is not None and send["bitcoin_txid"] == remittance["bitcoin_txid"]
    tx = CTransaction.deserialize(mined.raw_tx)
    tokyo_key, seoul_key = bitcoin.node_key(corridor.tokyo), bitcoin.node_key(corridor.seoul)
    sats = int(Decimal(remittance["btc_amount"]).scaleb(8))
    assert tx.vout[0].scriptPubKey == bitcoin.script_pubkey(tokyo_key)
    assert tx.vout[0].nValue == sats == Remittance.objects.get(pk=sent["id"]).btc_amount
    for i, txin in enumerate(tx.vin):
        coin = Coin.objects.get(txid=txin.prevout.hash[::-1].hex(), vout=txin.prevout.n)
        VerifyScript(txin.scriptSig, bitcoin.script_pubkey(coin.key), tx, i, (SCRIPT_VERIFY_P2SH,))
    assert {c.key for c in Coin.objects.filter(spent_by=mined.txid)} >= {seoul_key}
    assert bitcoin.balance(tokyo_key) == sats
    block = CBlock.deserialize(get_chain().raw_block(mined.height))
    check_block(block)
    assert get_chain().verify() == []
    call_command("verify_anchors")  # raises CommandError on any problem, spends included

    # Both nodes heard every state, as signed webhooks carry them.
    for node in (corridor.seoul, corridor.tokyo):
        types = list(
            Event.objects.filter(node=node, type__startswith="remittance.")
            .order_by("occurred_at", "created_at")
            .values_list("type", flat=True)
        )
        assert types == [
            "remittance.incoming_payment_waiting",
            "remittance.processing",
            "remittance.funds_converted",
            "remittance.outgoing_payment_sent",
        ]


def test_the_list_and_the_webhook_show_the_same_remittance(corridor):
    sent = corridor.send("150000")
    listed = corridor.api.get("/api/v1/remittances").json()["results"]
    detail = corridor.get(sent["id"])
    assert [r["id"] for r in listed] == [sent["id"]]
    assert listed[0] == detail
    event = Event.objects.filter(type="remittance.outgoing_payment_sent").first()
    assert event is not None and event.data == detail


# --- Bad input: a clear 4xx, nothing recorded, no money moved ------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"beneficiary": "busan"}, 422, "same_country"),
        ({"amount": "5000000"}, 409, "insufficient_funds"),
        ({"amount": "10"}, 422, "amount_below_minimum"),
        ({"amount": "0"}, 400, None),
        ({"originator": {}}, 400, None),
    ],
)
def test_bad_input_is_refused_and_moves_nothing(corridor, change, status, code):
    before = balances()
    body: dict = {}
    if change.get("beneficiary") == "busan":
        body["beneficiary_account_id"] = str(corridor.busan.wallet.accounts.get().pk)
    for key in ("amount", "originator"):
        if key in change:
            body[key] = change[key]
    amount = body.pop("amount", "200000")
    response_body = {
        "sender_account_id": str(corridor.sender.pk),
        "beneficiary_account_id": str(corridor.beneficiary.pk),
        "amount": amount,
        "originator": {"name": "Kim Minjun"},
        "beneficiary": {"name": "Sato Yui"},
        **body,
    }
    response = corridor.post("/api/v1/remittances", response_body)
    assert response.status_code == status, response.content
    if code:
        assert error_code(response) == code
    assert Remittance.objects.count() == 0
    assert changed(before) == {}


def test_an_account_of_another_tenant_is_unknown(corridor, outsider):
    foreign = NodeFactory(tenant=outsider.tenant, country="JP", base_currency="JPY")
    response = corridor.post(
        "/api/v1/remittances",
        {
            "sender_account_id": str(corridor.sender.pk),
            "beneficiary_account_id": str(foreign.wallet.accounts.get().pk),
            "amount": "200000",
            "originator": {"name": "Kim Minjun"},
            "beneficiary": {"name": "Sato Yui"},
        },
    )
    assert response.status_code == 404 and error_code(response) == "account_not_found"
    assert Remittance.objects.count() == 0
