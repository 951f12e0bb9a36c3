"""The escrow API: create, get, list with filters, release, refund, dispute and evidence,
the test helper; bad input answers a 4xx with its code and changes nothing; and the
escrow's events reach the nodes' webhooks, signed."""

from __future__ import annotations

import uuid

import pytest

from sandbox.events.services import webhook_secret_current
from sandbox.tenants.models import Node
from tests.factories import AccountFactory, NodeFactory, fund
from tests.helpers import error_code, ledger_state, pump
from wallets.escrow.models import Escrow, EscrowDispute
from wallets.escrow.terms import terms_hash
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def parties(alice):
    buyer, shop = NodeFactory(tenant=alice.tenant, name="Buyer"), NodeFactory(tenant=alice.tenant)
    payer, payee = buyer.wallet.accounts.get(), shop.wallet.accounts.get()
    fund(payer, 50_000)
    return payer, payee


def post(client, path, body=None, key=None):
    return client.post(
        path, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4())
    )


def create_body(payer, payee, **extra):
    body = {
        "payer_account_id": str(payer.pk),
        "payee_account_id": str(payee.pk),
        "amount": "10000",
        "currency": "KRW",
        "release_condition": "manual",
        "timeout_seconds": 86400,
        "dispute_window_seconds": 3600,
        "fee_rate_bps": 100,
        "fixed_fee": "50",
        "description": "Concert tickets",
    }
    body.update(extra)
    return body


def test_an_escrow_through_the_api_from_creation_to_release(alice, parties):
    payer, payee = parties
    created = post(alice.api, "/api/v1/escrows", create_body(payer, payee))
    assert created.status_code == 201, created.content
    escrow = created.json()
    assert escrow["status"] == "held" and escrow["remaining_amount"] == "10000"
    assert escrow["terms_hash"] == terms_hash(escrow["terms"])
    assert escrow["on_timeout"] == "refund"

    part = post(alice.api, f"/api/v1/escrows/{escrow['id']}/release", {"amount": "4000"})
    assert part.status_code == 200, part.content
    assert part.json()["status"] == "partially_released"
    assert part.json()["movements"][0]["fee"] == "90"  # 1% of 4,000 + 50

    rest = post(alice.api, f"/api/v1/escrows/{escrow['id']}/release")
    assert rest.json()["status"] == "released"
    assert rest.json()["released_amount"] == "10000" and rest.json()["fee_amount"] == "150"

    got = alice.api.get(f"/api/v1/escrows/{escrow['id']}")
    assert got.status_code == 200 and got.json() == rest.json()
    assert verify_ledger().ok


def test_a_retried_release_with_its_key_pays_once(alice, parties):
    payer, payee = parties
    escrow = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()
    key = str(uuid.uuid4())

    first = post(alice.api, f"/api/v1/escrows/{escrow['id']}/release", {"amount": "100"}, key)
    second = post(alice.api, f"/api/v1/escrows/{escrow['id']}/release", {"amount": "100"}, key)

    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert Escrow.objects.get().released_amount == 100


def test_lists_filter_by_status_and_node(alice, parties):
    payer, payee = parties
    held = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()
    refunded = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()
    post(alice.api, f"/api/v1/escrows/{refunded['id']}/refund")

    def ids(query):
        response = alice.api.get("/api/v1/escrows", query)
        assert response.status_code == 200, response.content
        return [e["id"] for e in response.json()["results"]]

    assert ids({}) == [refunded["id"], held["id"]]
    assert ids({"status": "held"}) == [held["id"]]
    shop = Node.objects.get(wallet=payee.wallet_id)
    assert len(ids({"node": str(shop.pk)})) == 2
    assert alice.api.get("/api/v1/escrows", {"node": str(uuid.uuid4())}).status_code == 404
    assert alice.api.get("/api/v1/escrows", {"status": "lost"}).status_code == 400


def test_a_dispute_through_the_api_and_the_test_helper(alice, parties):
    payer, payee = parties
    escrow = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()

    opened = post(alice.api, f"/api/v1/escrows/{escrow['id']}/dispute", {"reason": "Fake"})
    assert opened.status_code == 201, opened.content
    dispute = opened.json()
    assert dispute["status"] == "opened"
    assert alice.api.get(f"/api/v1/escrows/{escrow['id']}").json()["dispute_id"] == dispute["id"]

    answered = post(
        alice.api, f"/api/v1/escrow_disputes/{dispute['id']}/evidence", {"evidence": "Receipt"}
    )
    assert answered.json()["status"] == "evidence_submitted"

    won = post(alice.api, f"/api/v1/test_helpers/escrow_disputes/{dispute['id']}/win")
    assert won.status_code == 200, won.content
    assert won.json()["status"] == "won"
    assert won.json()["decided_by"].startswith("test_helper:")
    assert alice.api.get(f"/api/v1/escrows/{escrow['id']}").json()["status"] == "refunded"
    listed = alice.api.get("/api/v1/escrow_disputes", {"status": "won"}).json()["results"]
    assert [d["id"] for d in listed] == [dispute["id"]]
    assert alice.api.get(f"/api/v1/escrow_disputes/{dispute['id']}").json() == won.json()
    # The test helper's decision is in the test helper log, with who used it.
    log = alice.api.get("/api/v1/test_helpers/log").json()["results"]
    assert "test_helper.escrow_dispute_win" in [entry["action"] for entry in log]


@pytest.mark.parametrize("action,outcome", [("lose", "lost"), ("deadline", "won")])
def test_the_test_helper_takes_any_action(alice, parties, action, outcome):
    payer, payee = parties
    escrow = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()
    dispute = post(alice.api, f"/api/v1/escrows/{escrow['id']}/dispute", {"reason": "x"}).json()

    response = post(alice.api, f"/api/v1/test_helpers/escrow_disputes/{dispute['id']}/{action}")

    assert response.json()["status"] == outcome


def test_the_test_helper_submits_evidence(alice, parties):
    payer, payee = parties
    escrow = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()
    dispute = post(alice.api, f"/api/v1/escrows/{escrow['id']}/dispute", {"reason": "x"}).json()
    path = f"/api/v1/test_helpers/escrow_disputes/{dispute['id']}"

    assert post(alice.api, f"{path}/submit_evidence").json()["status"] == "evidence_submitted"
    assert error_code(post(alice.api, f"{path}/shrug")) == "unknown_action"


@pytest.mark.parametrize(
    "change,status,code",
    [
        ({"amount": 100}, 400, "invalid_amount"),  # a number, not a decimal string
        ({"amount": "1.5"}, 400, "invalid_precision"),
        ({"amount": "-5"}, 400, "invalid_amount"),
        ({"currency": "XXX"}, 400, "unknown_currency"),
        ({"release_condition": "soon"}, 400, "invalid_release_condition"),
        ({"timeout_seconds": 10}, 400, "invalid_timeout"),
        ({"fee_rate_bps": 20000}, 400, "invalid_fee_rate"),
        ({"fixed_fee": "0.5"}, 400, "invalid_precision"),
        ({"payee_account_id": str(uuid.uuid4())}, 404, "account_not_found"),
        ({"amount": "60000"}, 422, "insufficient_funds"),
        ({"surprise": 1}, 400, "unknown_field"),
    ],
)
def test_bad_input_is_refused_with_its_code_and_nothing_changes(
    alice, parties, change, status, code
):
    payer, payee = parties
    before = ledger_state()

    response = post(alice.api, "/api/v1/escrows", create_body(payer, payee, **change))

    assert response.status_code == status, response.content
    assert error_code(response) == code
    assert ledger_state() == before
    assert not Escrow.objects.exists()


def test_a_release_after_a_refund_and_above_what_remains_are_refused(alice, parties):
    payer, payee = parties
    escrow = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()
    path = f"/api/v1/escrows/{escrow['id']}"
    above = post(alice.api, f"{path}/release", {"amount": "10001"})
    assert (above.status_code, error_code(above)) == (422, "amount_exceeds_remaining")
    post(alice.api, f"{path}/refund")
    before = ledger_state()

    after = post(alice.api, f"{path}/release", {"amount": "1"})

    assert (after.status_code, error_code(after)) == (409, "escrow_refunded")
    assert ledger_state() == before


def test_another_tenants_account_is_not_found(alice, outsider, parties):
    payer, _ = parties
    theirs = AccountFactory(node=NodeFactory(tenant=outsider.tenant))

    response = post(alice.api, "/api/v1/escrows", create_body(payer, theirs))

    assert (response.status_code, error_code(response)) == (404, "account_not_found")


def test_a_dispute_twice_is_refused(alice, parties):
    payer, payee = parties
    escrow = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()
    post(alice.api, f"/api/v1/escrows/{escrow['id']}/dispute", {"reason": "x"})

    again = post(alice.api, f"/api/v1/escrows/{escrow['id']}/dispute", {"reason": "x"})

    assert (again.status_code, error_code(again)) == (409, "dispute_exists")
    assert EscrowDispute.objects.count() == 1


def test_escrow_events_reach_both_nodes_webhooks_signed(alice, settings, celery_eager, receiver):
    settings.SANDBOX_WEBHOOK_ALLOW_LOOPBACK = True
    settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS = 3
    buyer = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    shop = NodeFactory(tenant=alice.tenant, webhook_url=receiver.url)
    receiver.secrets = [webhook_secret_current(node=n).secret for n in (buyer, shop)]
    payer, payee = buyer.wallet.accounts.get(), shop.wallet.accounts.get()
    fund(payer, 20_000)

    escrow = post(alice.api, "/api/v1/escrows", create_body(payer, payee)).json()
    released = post(alice.api, f"/api/v1/escrows/{escrow['id']}/release").json()
    pump()

    assert receiver.requests and all(r.verified for r in receiver.requests)
    ours = [r.json for r in receiver.requests if r.json["object_id"] == escrow["id"]]
    assert sorted((e["type"], e["node"]) for e in ours) == sorted(
        (t, str(n.pk)) for t in ("escrow.created", "escrow.released") for n in (buyer, shop)
    )
    # The webhook's data is what the API answers.
    body = next(e for e in ours if e["type"] == "escrow.released" and e["node"] == str(shop.pk))
    assert body["data"] == released
