"""The history filtered by counterparty is read from the counterparty's entries: it must
list exactly the transactions a plain reading of the filters gives, in the same order,
page after page, with the other filters too."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.factories import AccountFactory, NodeFactory, fund
from wallets.models import LedgerTransaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def ring(alice):
    """Three of alice's accounts on two nodes, and transfers of every size between them."""
    first, second = NodeFactory(tenant=alice.tenant), NodeFactory(tenant=alice.tenant)
    a = first.wallet.accounts.get()
    b = AccountFactory(node=first, name="B")
    c = second.wallet.accounts.get()
    for account in (a, b, c):
        fund(account, 1_000_000)
    pairs = [(a, b), (b, c), (c, a), (a, c), (b, a)]
    for n in range(15):
        source, destination = pairs[n % len(pairs)]
        response = alice.api.post(
            "/api/v1/transfers",
            {
                "source_account_id": str(source.pk),
                "destination_account_id": str(destination.pk),
                "amount": str(100 * (n + 1)),
                "currency": "KRW",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content
    return a, b, c


def expected(tenant, counterparty, *, kind=None, min_amount=None, max_amount=None):
    """The filters read literally: the tenant's transactions with an entry on the
    counterparty, newest first."""
    found = [
        txn
        for txn in LedgerTransaction.objects.filter(tenant=tenant).order_by("-posted_at", "-id")
        if txn.entries.filter(account=counterparty).exists()
        and (kind is None or txn.kind == kind)
        and (min_amount is None or txn.amount >= min_amount)
        and (max_amount is None or txn.amount <= max_amount)
    ]
    return [str(t.uuid) for t in found]


def every_page(alice, params) -> list[str]:
    seen, url = [], "/api/v1/transactions"
    while url:
        page = alice.api.get(url, params if url == "/api/v1/transactions" else None).json()
        seen += [t["id"] for t in page["results"]]
        url = page["next"]
    return seen


@pytest.mark.parametrize(
    "extra,literal",
    [
        ({}, {}),
        ({"kind": "transfer"}, {"kind": "transfer"}),
        ({"kind": "deposit"}, {"kind": "deposit"}),
        (
            {"currency": "KRW", "min_amount": "500", "max_amount": "1200"},
            {"min_amount": 500, "max_amount": 1200},
        ),
    ],
)
def test_the_counterparty_history_is_the_literal_one_page_after_page(alice, ring, extra, literal):
    for counterparty in ring:
        params = {"counterparty": str(counterparty.pk), "limit": 2, **extra}

        got = every_page(alice, params)

        assert got == expected(alice.tenant, counterparty, **literal)
        assert got  # every case finds something: the comparison is not of two empty lists


def test_the_dashboard_history_agrees(alice, ring):
    _, b, _ = ring
    html = alice.web.get(f"/wallets/transactions/?counterparty={b.account_number}").content

    ids = re.findall(r'href="/wallets/transactions/([0-9a-f-]{36})/"', html.decode())

    assert ids == expected(alice.tenant, b)
