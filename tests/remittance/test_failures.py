"""Magic values make a remittance fail at a chosen leg; every posted leg is then reversed
(on chain too) and balances are as before, but for the documented return fee."""

from __future__ import annotations

import pytest

from clearing.chain import get_chain
from clearing.remittance.models import Remittance
from clearing.remittance.services import RETURN_FEE_BPS
from sandbox.events.models import Event
from tests.helpers import error_code
from tests.remittance.conftest import balances, changed, currency_sums
from wallets.models import Account

FORWARD = ["debit_sender", "buy_btc", "send_btc", "sell_btc", "credit_beneficiary"]


def states_heard(node) -> list[str]:
    return list(
        Event.objects.filter(node=node, type__startswith="remittance.")
        .order_by("occurred_at", "created_at")
        .values_list("type", flat=True)
    )


@pytest.mark.parametrize(
    ("magic", "field", "failed_leg", "code"),
    [
        ("FAIL_AT_BUY_BTC", "memo", "buy_btc", "simulated_failure"),
        ("FAIL_AT_SEND_BTC", "reference", "send_btc", "simulated_failure"),
        ("FAIL_AT_SELL_BTC", "memo", "sell_btc", "simulated_failure"),
        ("FAIL_AT_CREDIT_BENEFICIARY", "reference", "credit_beneficiary", "simulated_failure"),
        ("INVALID_BENEFICIARY", "reference", "credit_beneficiary", "invalid_beneficiary"),
    ],
)
def test_a_failure_at_a_leg_unwinds_every_posted_leg(corridor, magic, field, failed_leg, code):
    before = balances()

    sent = corridor.send("200000", **{field: f"invoice 7 {magic}"})

    remittance = corridor.get(sent["id"])
    assert remittance["status"] == "funds_refunded"
    assert remittance["failed_leg"] == failed_leg and remittance["failure_code"] == code
    posted = FORWARD[: FORWARD.index(failed_leg)]
    assert [leg["kind"] for leg in remittance["legs"]] == posted
    assert all(leg["reversal_transaction_id"] for leg in remittance["legs"])
    # Every balance as before, the desk's and its revenue's included: the reversals return
    # the conversions' fees too. Every currency still sums to zero.
    assert changed(before) == {}
    assert all(total == 0 for total in currency_sums().values())
    assert get_chain().verify() == []
    assert states_heard(corridor.seoul)[-2:] == [
        "remittance.bounced_back",
        "remittance.funds_refunded",
    ]


def test_a_payment_returned_by_the_receiving_node_costs_the_return_fee(corridor):
    before = balances()

    sent = corridor.send("200000", reference="RETURNED")

    remittance = corridor.get(sent["id"])
    assert remittance["status"] == "funds_refunded"
    assert remittance["failed_leg"] == "credit_beneficiary"
    assert remittance["failure_code"] == "returned_by_receiving_node"
    assert [leg["kind"] for leg in remittance["legs"]] == [*FORWARD, "return_fee"]
    fee = 200_000 * RETURN_FEE_BPS // 10_000
    tokyo_krw = Account.objects.get(
        wallet__node=corridor.tokyo, currency="KRW", customer_reference="remittance-transit"
    )
    assert changed(before) == {str(corridor.sender.pk): -fee, str(tokyo_krw.pk): fee}
    assert states_heard(corridor.tokyo) == [
        "remittance.incoming_payment_waiting",
        "remittance.processing",
        "remittance.funds_converted",
        "remittance.outgoing_payment_sent",
        "remittance.bounced_back",
        "remittance.funds_refunded",
    ]
    assert get_chain().verify() == []


def test_a_delayed_remittance_waits_in_processing_until_the_test_helper_moves_it(corridor):
    sent = corridor.send("200000", memo="DELAYED")
    remittance = corridor.get(sent["id"])
    assert remittance["status"] == "processing"
    assert [leg["kind"] for leg in remittance["legs"]] == ["debit_sender"]

    converted = corridor.advance(sent["id"], "funds_converted")
    assert converted["status"] == "funds_converted"
    assert [leg["kind"] for leg in converted["legs"]] == FORWARD[:4]

    done = corridor.advance(sent["id"], "outgoing_payment_sent")
    assert done["status"] == "outgoing_payment_sent" and len(done["legs"]) == 5

    response = corridor.post(
        f"/api/v1/test_helpers/remittances/{sent['id']}/advance", {"status": "processing"}
    )
    assert response.status_code == 409 and error_code(response) == "invalid_transition"


def test_the_test_helper_bounces_and_refunds_a_remittance(corridor):
    before = balances()
    sent = corridor.send("200000", memo="DELAYED")
    corridor.advance(sent["id"], "processing")

    bounced = corridor.advance(sent["id"], "bounced_back")
    assert bounced["status"] == "bounced_back" and bounced["failed_leg"] == "buy_btc"
    assert bounced["legs"][0]["reversal_transaction_id"] is None

    refunded = corridor.advance(sent["id"], "funds_refunded")
    assert refunded["status"] == "funds_refunded"
    assert refunded["legs"][0]["reversal_transaction_id"] is not None
    assert changed(before) == {}
    assert Remittance.objects.get(pk=sent["id"]).failure_code == "simulated_failure"


def test_running_a_step_twice_moves_money_once(corridor):
    from clearing.remittance import services

    sent = corridor.send("200000")
    before = balances()
    # A worker that crashed after committing runs again: everything is recorded already.
    for _ in range(3):
        assert services.remittance_step(remittance_id=sent["id"]) is False
    services.remittance_run(remittance_id=sent["id"])
    assert changed(before) == {}
    assert corridor.get(sent["id"])["status"] == "outgoing_payment_sent"
