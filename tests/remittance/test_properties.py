"""Hypothesis sends random remittances between nodes in three countries (any corridor, any
amount within the desk's limits, any magic value) and checks after each: every currency
sums to zero over all accounts, a completed remittance moved exactly its amounts, a failed
one left every balance as before (but for the documented return fee), and the chain, with
its payment transactions, still verifies."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearing.chain import get_chain
from clearing.remittance import services
from clearing.remittance.models import Remittance
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory, fund
from tests.remittance.conftest import balances, changed, currency_sums
from wallets.fx import services as fx_services

pytestmark = pytest.mark.django_db

MAGIC = [
    "",
    "",
    "FAIL_AT_BUY_BTC",
    "FAIL_AT_SEND_BTC",
    "FAIL_AT_SELL_BTC",
    "FAIL_AT_CREDIT_BENEFICIARY",
    "INVALID_BENEFICIARY",
    "RETURNED",
]
AMOUNTS = {"KRW": st.integers(20_000, 400_000), "JPY": st.integers(2_000, 40_000)}
AMOUNTS["USD"] = st.integers(1_500, 30_000)


@pytest.fixture
def nodes(alice):
    fx_services.pairs_seed()  # again, if a transactional test flushed the migrated table
    made = {}
    for country, currency, money in (("KR", "KRW", 5_000_000), ("JP", "JPY", 500_000)):
        node = NodeFactory(tenant=alice.tenant, country=country, base_currency=currency)
        account = node.wallet.accounts.get()
        fund(account, money)
        made[currency] = (node, account)
    node = NodeFactory(tenant=alice.tenant, country="US", base_currency="USD")
    fund(node.wallet.accounts.get(), 400_000)
    made["USD"] = (node, node.wallet.accounts.get())
    return alice.tenant, made


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_remittance_conserves_every_currency_and_a_failed_one_changes_nothing(nodes, data):
    tenant, made = nodes
    source = data.draw(st.sampled_from(sorted(made)), label="source")
    target = data.draw(st.sampled_from(sorted(set(made) - {source})), label="target")
    amount = data.draw(AMOUNTS[source], label="amount")
    magic = data.draw(st.sampled_from(MAGIC), label="magic")
    sender, beneficiary = made[source][1], made[target][1]
    before = balances()

    remittance = services.remittance_create(
        tenant=tenant,
        actor=SYSTEM,
        request=services.RemittanceRequest(
            sender_account=sender,
            beneficiary_account=beneficiary,
            amount=amount,
            originator={"name": "O"},
            beneficiary={"name": "B"},
            reference=magic,
        ),
    )
    done = services.remittance_run(remittance_id=remittance.pk)

    assert all(total == 0 for total in currency_sums().values()), currency_sums()
    moved = changed(before)
    if magic == "":
        assert done.status == Remittance.Status.OUTGOING_PAYMENT_SENT
        assert moved[str(sender.pk)] == -amount
        assert moved[str(beneficiary.pk)] == done.target_amount
        assert set(moved) - {str(sender.pk), str(beneficiary.pk)}  # the desk's side moved
    elif magic == "RETURNED":
        fee = max(amount * services.RETURN_FEE_BPS // 10_000, 1)
        assert done.status == Remittance.Status.FUNDS_REFUNDED
        assert moved.pop(str(sender.pk)) == -fee and list(moved.values()) == [fee]
    else:
        assert done.status == Remittance.Status.FUNDS_REFUNDED and done.failed_leg
        assert moved == {}
    assert get_chain().verify() == []
