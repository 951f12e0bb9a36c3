"""Netting equals a brute-force computation on random obligations."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.netting import Obligation, instructions, net, obligations_from_legs

NODES = ["n1", "n2", "n3", "n4", "n5"]
CURRENCIES = ["KRW", "USD"]

obligation = st.builds(
    lambda pair, currency, amount: Obligation(pair[0], pair[1], currency, amount),
    st.permutations(NODES).map(lambda p: (p[0], p[1])),
    st.sampled_from(CURRENCIES),
    st.integers(1, 10**9),
)


def brute_force(obligations):
    """Straight from the definitions, one loop per quantity, nothing shared."""
    paid, received, multilateral, bilateral = {}, {}, {}, {}
    for node in NODES:
        for currency in CURRENCIES:
            out = sum(o.amount for o in obligations if o.payer == node and o.currency == currency)
            inn = sum(o.amount for o in obligations if o.payee == node and o.currency == currency)
            if any(node in (o.payer, o.payee) and o.currency == currency for o in obligations):
                multilateral[(node, currency)] = inn - out
            if out:
                paid[(node, currency)] = out
            if inn:
                received[(node, currency)] = inn
    for a in NODES:
        for b in NODES:
            for currency in CURRENCIES:
                a_to_b = sum(
                    o.amount
                    for o in obligations
                    if (o.payer, o.payee, o.currency) == (a, b, currency)
                )
                b_to_a = sum(
                    o.amount
                    for o in obligations
                    if (o.payer, o.payee, o.currency) == (b, a, currency)
                )
                if a_to_b > b_to_a:
                    bilateral[(a, b, currency)] = a_to_b - b_to_a
    return paid, received, bilateral, multilateral


@settings(max_examples=150, deadline=None)
@given(st.lists(obligation, max_size=40))
def test_netting_equals_brute_force(obligations):
    positions = net(obligations)
    paid, received, bilateral, multilateral = brute_force(obligations)
    assert positions.gross_paid == paid
    assert positions.gross_received == received
    assert positions.bilateral == bilateral
    assert positions.multilateral == multilateral
    for currency in CURRENCIES:
        assert sum(v for (_, c), v in positions.multilateral.items() if c == currency) == 0


@settings(max_examples=150, deadline=None)
@given(st.lists(obligation, max_size=40))
def test_instructions_settle_every_position_in_few_payments(obligations):
    positions = net(obligations)
    paid = instructions(positions.multilateral)
    balance = defaultdict(int, positions.multilateral)
    for instruction in paid:
        assert instruction.amount > 0
        assert positions.multilateral[(instruction.payer, instruction.currency)] < 0
        assert positions.multilateral[(instruction.payee, instruction.currency)] > 0
        balance[(instruction.payer, instruction.currency)] += instruction.amount
        balance[(instruction.payee, instruction.currency)] -= instruction.amount
    assert all(v == 0 for v in balance.values())
    for currency in CURRENCIES:
        nonzero = [n for (n, c), v in positions.multilateral.items() if c == currency and v]
        count = sum(1 for i in paid if i.currency == currency)
        assert count <= max(0, len(nonzero) - 1)
    assert instructions(positions.multilateral) == paid  # deterministic


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(NODES), st.sampled_from(CURRENCIES), st.integers(-1000, 1000)),
        max_size=8,
    )
)
def test_a_transactions_obligations_move_exactly_its_legs(raw_legs):
    # Balance the legs per currency, as every ledger transaction is.
    legs = list(raw_legs)
    for currency in CURRENCIES:
        total = sum(a for _, c, a in legs if c == currency)
        if total:
            legs.append(("n1", currency, -total))
    obligations = obligations_from_legs(legs)
    effect = defaultdict(int)
    for o in obligations:
        assert o.amount > 0 and o.payer != o.payee
        effect[(o.payer, o.currency)] -= o.amount
        effect[(o.payee, o.currency)] += o.amount
    expected = defaultdict(int)
    for node, currency, amount in legs:
        expected[(node, currency)] += amount
    assert {k: v for k, v in effect.items() if v} == {k: v for k, v in expected.items() if v}
