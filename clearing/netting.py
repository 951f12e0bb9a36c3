"""Netting: from inter-node obligations to gross, bilateral and multilateral positions, and
settlement instructions. Pure functions over plain values (no database), per currency.

An *obligation* is "node ``payer`` owes node ``payee`` ``amount`` minor units of
``currency``", one per inter-node money movement. For a set of obligations:

* gross: per node and currency, everything it paid and everything it received;
* bilateral: per pair of nodes and currency, what one owes the other after offsetting the
  two directions;
* multilateral: per node and currency, received - paid (positive: the node is owed money);
  the multilateral positions of a currency always sum to zero;
* instructions: who pays whom to settle the multilateral positions, at most n - 1 payments
  per currency (largest debtor pays largest creditor first; ties by node id, so the result
  is deterministic).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Obligation:
    payer: str
    payee: str
    currency: str
    amount: int


@dataclass(frozen=True, order=True)
class Instruction:
    payer: str
    payee: str
    currency: str
    amount: int


@dataclass
class Positions:
    gross_paid: dict[tuple[str, str], int]  # (node, currency) -> paid
    gross_received: dict[tuple[str, str], int]  # (node, currency) -> received
    bilateral: dict[tuple[str, str, str], int]  # (debtor, creditor, currency) -> net owed
    multilateral: dict[tuple[str, str], int]  # (node, currency) -> received - paid

    def nodes(self) -> list[str]:
        return sorted({node for node, _ in self.gross_paid} | {n for n, _ in self.gross_received})


def obligations_from_legs(legs: Sequence[tuple[str, str, int]]) -> list[Obligation]:
    """The obligations one transaction creates, from its node legs (node, currency, signed
    amount; credit > 0). Per currency, each node's legs are summed; nodes that come out
    negative pay the ones that come out positive, greedily in node order."""
    by_currency: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for node, currency, amount in legs:
        by_currency[currency][node] += amount
    found = []
    for currency, totals in sorted(by_currency.items()):
        payers = [node for node, total in sorted(totals.items()) if total < 0]
        payees = [node for node, total in sorted(totals.items()) if total > 0]
        owes = [-totals[node] for node in payers]  # what each payer has left to pay
        due = [totals[node] for node in payees]  # what each payee has left to receive
        i = j = 0
        while i < len(payers) and j < len(payees):
            amount = min(owes[i], due[j])
            found.append(Obligation(payers[i], payees[j], currency, amount))
            owes[i] -= amount
            due[j] -= amount
            if owes[i] == 0:
                i += 1
            if due[j] == 0:
                j += 1
    return found


def net(obligations: Iterable[Obligation]) -> Positions:
    """All positions, in one pass."""
    paid: dict[tuple[str, str], int] = defaultdict(int)
    received: dict[tuple[str, str], int] = defaultdict(int)
    directed: dict[tuple[str, str, str], int] = defaultdict(int)
    for o in obligations:
        if o.amount <= 0 or o.payer == o.payee:
            raise ValueError(f"Not an obligation: {o}")
        paid[(o.payer, o.currency)] += o.amount
        received[(o.payee, o.currency)] += o.amount
        directed[(o.payer, o.payee, o.currency)] += o.amount
    bilateral: dict[tuple[str, str, str], int] = {}
    for (a, b, currency), amount in directed.items():
        if (b, a, currency) in bilateral or (a, b, currency) in bilateral:
            continue
        owed = amount - directed.get((b, a, currency), 0)
        if owed > 0:
            bilateral[(a, b, currency)] = owed
        elif owed < 0:
            bilateral[(b, a, currency)] = -owed
    multilateral: dict[tuple[str, str], int] = {}
    for key in set(paid) | set(received):
        multilateral[key] = received.get(key, 0) - paid.get(key, 0)
    return Positions(dict(paid), dict(received), bilateral, multilateral)


def instructions(multilateral: dict[tuple[str, str], int]) -> list[Instruction]:
    """Payments that settle the multilateral positions (each currency must sum to zero)."""
    by_currency: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (node, currency), position in multilateral.items():
        by_currency[currency].append((node, position))
    result = []
    for currency, rows in sorted(by_currency.items()):
        if sum(p for _, p in rows) != 0:
            raise ValueError(f"{currency} positions do not sum to zero.")
        # Largest amounts first, then node order.
        debtors = sorted(((n, -p) for n, p in rows if p < 0), key=lambda r: (-r[1], r[0]))
        creditors = sorted(((n, p) for n, p in rows if p > 0), key=lambda r: (-r[1], r[0]))
        owes = [amount for _, amount in debtors]
        due = [amount for _, amount in creditors]
        i = j = 0
        while i < len(debtors) and j < len(creditors):
            amount = min(owes[i], due[j])
            result.append(Instruction(debtors[i][0], creditors[j][0], currency, amount))
            owes[i] -= amount
            due[j] -= amount
            if owes[i] == 0:
                i += 1
            if due[j] == 0:
                j += 1
    return result
