"""Dashboard smoke tests: the wallet pages render, and their forms move money once."""

import pytest
from django.test import Client

from tests.factories import AccountFactory, MembershipFactory, NodeFactory, fund
from wallets.models import Account, LedgerTransaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(alice) -> Client:
    return alice.web


@pytest.fixture
def wallet(alice):
    node = NodeFactory(tenant=alice.tenant, name="Seoul")
    main = node.wallet.accounts.get()
    savings = AccountFactory(node=node, name="Savings")
    fund(main, 50_000)
    return node, main, savings


def test_it_shows_wallets_balances_and_accounts(browser, wallet):
    node, main, _ = wallet
    overview = browser.get("/wallets/")
    assert overview.status_code == 200 and "Seoul" in overview.content.decode()
    page = browser.get(f"/wallets/nodes/{node.pk}/").content.decode()
    assert "Savings" in page and "50,000" in page
    assert main.account_number[:4] in page
    assert f"/wallets/nodes/{node.pk}/" in browser.get(f"/nodes/{node.pk}/").content.decode()


def test_it_opens_an_account_from_the_wallet_page(browser, wallet):
    node, *_ = wallet
    response = browser.post(
        f"/wallets/nodes/{node.pk}/",
        {"currency": "USD", "name": "Dollars", "customer_reference": "", "bank_code": "088"},
    )
    assert response.status_code == 302
    assert Account.objects.get(name="Dollars").bank_code == "088"


def test_the_transfer_form_posts_once_even_when_submitted_twice(browser, wallet):
    node, main, savings = wallet
    form = {
        "source": str(main.pk),
        "destination": str(savings.pk),
        "amount": "1200",
        "memo": "from the dashboard",
        "idempotency_key": "form-key-1",
    }
    first = browser.post(f"/wallets/nodes/{node.pk}/transfer/", form, HTTP_HX_REQUEST="true")
    assert first.status_code == 200 and "Posted 1200 KRW" in first.content.decode()
    browser.post(f"/wallets/nodes/{node.pk}/transfer/", form, HTTP_HX_REQUEST="true")
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1
    savings.refresh_from_db()
    assert savings.posted_balance == 1200

    refused = browser.post(
        f"/wallets/nodes/{node.pk}/transfer/",
        {**form, "amount": "12.5", "idempotency_key": "form-key-2"},
        HTTP_HX_REQUEST="true",
    )
    assert "decimal places" in refused.content.decode()


def test_history_filters_export_detail_and_reverse(browser, wallet):
    _, main, savings = wallet
    from wallets import services

    txn = services.transfer_create(
        tenant=main.tenant,
        request=services.TransferRequest(
            source=main, destination=savings, amount=777, currency="KRW", memo="lunch"
        ),
    ).transaction
    listing = browser.get(
        "/wallets/transactions/", {"account": str(savings.pk), "kind": "transfer"}
    )
    assert listing.status_code == 200 and "lunch" in listing.content.decode()
    bad = browser.get("/wallets/transactions/", {"min_amount": "1"})
    assert "need a currency" in bad.content.decode()
    export = browser.get("/wallets/transactions/export.csv", {"account": str(savings.pk)})
    assert b"transfer" in b"".join(export.streaming_content)
    detail = browser.get(f"/wallets/transactions/{txn.uuid}/").content.decode()
    assert "lunch" in detail and "Savings" in detail
    reversed_ = browser.post(f"/wallets/transactions/{txn.uuid}/reverse/")
    assert reversed_.status_code == 302
    assert LedgerTransaction.objects.filter(reverses=txn).exists()


def test_another_tenants_wallet_pages_are_404(outsider, wallet):
    node, _, _ = wallet
    client = Client()
    client.force_login(outsider.owner)
    assert client.get(f"/wallets/nodes/{node.pk}/").status_code == 404
    txn = LedgerTransaction.objects.first()
    assert client.get(f"/wallets/transactions/{txn.uuid}/").status_code == 404


def test_viewers_see_wallets_but_cannot_move_money(alice, wallet):
    node, main, savings = wallet
    viewer = MembershipFactory(tenant=alice.tenant, role="viewer").user
    client = Client()
    client.force_login(viewer)
    page = client.get(f"/wallets/nodes/{node.pk}/").content.decode()
    assert "Open an account" not in page
    response = client.post(
        f"/wallets/nodes/{node.pk}/transfer/",
        {
            "source": str(main.pk),
            "destination": str(savings.pk),
            "amount": "1",
            "idempotency_key": "k",
        },
    )
    assert response.status_code == 403
