"""Tenant isolation for every wallet endpoint: no key → 401, another tenant → 404."""

import uuid

import pytest

from tests.factories import AccountFactory, NodeFactory, fund
from wallets import services
from wallets.models import Account, Hold, LedgerTransaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_things(alice):
    node = NodeFactory(tenant=alice.tenant)
    main = node.wallet.accounts.get()
    other = AccountFactory(node=node)
    fund(main, 1_000)
    txn = services.transfer_create(
        tenant=alice.tenant,
        request=services.TransferRequest(source=main, destination=other, amount=10, currency="KRW"),
    ).transaction
    hold = services.hold_place(
        tenant=alice.tenant, account=main, counterparty=other, amount=5, currency="KRW"
    )
    return {"node": node, "account": main, "txn": txn, "hold": hold}


def owned_paths(things):
    node, account, txn, hold = things["node"], things["account"], things["txn"], things["hold"]
    return [
        ("get", f"/api/v1/nodes/{node.pk}/wallet"),
        ("get", f"/api/v1/accounts/{account.pk}"),
        ("get", f"/api/v1/accounts/{account.pk}/balance"),
        ("post", f"/api/v1/accounts/{account.pk}/close"),
        ("get", f"/api/v1/holds/{hold.pk}"),
        ("post", f"/api/v1/holds/{hold.pk}/capture"),
        ("post", f"/api/v1/holds/{hold.pk}/void"),
        ("get", f"/api/v1/transactions/{txn.uuid}"),
        ("post", f"/api/v1/transactions/{txn.uuid}/reverse"),
        ("get", f"/api/v1/transactions?account={account.pk}"),
        ("get", f"/api/v1/transactions/export.csv?account={account.pk}"),
        ("get", f"/api/v1/holds?account={account.pk}"),
        ("get", f"/api/v1/balances?node={node.pk}"),
        ("get", f"/api/v1/accounts?node={node.pk}"),
    ]


def test_it_answers_404_to_another_tenant_for_each_of_alices_objects(outsider, alices_things):
    for method, path in owned_paths(alices_things):
        response = getattr(outsider.api, method)(
            path, {}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["error"]["code"].endswith("_not_found")
    account = Account.objects.get(pk=alices_things["account"].pk)
    assert account.status == "open" and account.held_balance == 5
    assert Hold.objects.get(pk=alices_things["hold"].pk).status == "pending"
    assert not LedgerTransaction.objects.filter(kind="reversal").exists()


def test_it_shows_another_tenant_nothing_in_lists(outsider, alices_things):
    for path in ("/api/v1/accounts", "/api/v1/holds", "/api/v1/transactions"):
        assert outsider.api.get(path).json()["results"] == [], path
    assert outsider.api.get("/api/v1/balances").json() == []
    csv_body = b"".join(outsider.api.get("/api/v1/transactions/export.csv").streaming_content)
    assert csv_body.decode().strip().count("\n") == 0  # the header only


def test_it_refuses_another_tenants_accounts_as_hold_or_new_account_targets(
    outsider, alices_things
):
    theirs = NodeFactory(tenant=outsider.tenant).wallet.accounts.get()
    response = outsider.api.post(
        "/api/v1/holds",
        {
            "account_id": str(theirs.pk),
            "counterparty_account_id": str(alices_things["account"].pk),
            "amount": "1",
            "currency": "KRW",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 404
    response = outsider.api.post(
        "/api/v1/accounts",
        {"node_id": str(alices_things["node"].pk), "currency": "KRW", "name": "sneaky"},
        format="json",
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "node_not_found"


def test_it_answers_401_without_a_key(anonymous, alices_things):
    paths = [
        *owned_paths(alices_things),
        ("post", "/api/v1/transfers"),
        ("post", "/api/v1/transfers/bulk"),
        ("post", "/api/v1/holds"),
        ("post", "/api/v1/accounts"),
    ]
    for method, path in paths:
        response = getattr(anonymous, method)(path, {}, format="json")
        assert response.status_code == 401, (method, path)


def test_platform_accounts_are_out_of_every_tenants_reach(alice, alices_things):
    settlement = Account.objects.get(kind="platform")
    assert alice.api.get(f"/api/v1/accounts/{settlement.pk}").status_code == 404
