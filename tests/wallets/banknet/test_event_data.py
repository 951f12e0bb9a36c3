"""One representation per object: every bank-network event carries, as its ``data``, exactly
what the API returns for that object at that moment (its GET, or its item in the list when
the GET adds more: a bank account's statement, a bank's state for the tenant)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.errors import ApplicationError
from sandbox.events.models import Event
from sandbox.tenants.services import SYSTEM
from wallets.banknet import bank_accounts, cards, deposits, links, network_banks, withdrawals
from wallets.banknet.models import StatementLine
from wallets.banks import new_account_number

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]

BANK_NETWORK_KINDS = {
    "bank",
    "bank_account",
    "account_link",
    "deposit",
    "withdrawal",
    "transfer",
    "card_payment",
}
BANK_NETWORK_EVENT_TYPES = {
    "bank.offline",
    "bank.online",
    "bank_account.created",
    "bank_account.closed",
    *(
        f"account_link.{step}"
        for step in ("code_sent", "verified", "code_rejected", "locked", "expired")
    ),
    "deposit.created",
    "deposit.credited",
    "deposit.returned",
    *(
        f"{kind}.{step}"
        for kind in ("withdrawal", "transfer")
        for step in ("created", "succeeded", "failed", "returned")
    ),
    *(
        f"card_payment.{status}"
        for status in (
            "requires_challenge",
            "authorized",
            "captured",
            "refunded",
            "partially_refunded",
            "declined",
            "canceled",
            "expired",
        )
    ),
}


def _items(body):
    return body["results"] if isinstance(body, dict) else body


class Checker:
    """After each step, compares each new bank-network event with the API's answer."""

    def __init__(self, world):
        self.world = world
        self.seen: set = set()
        self.checked: set[str] = set()

    def api_view(self, event: Event) -> dict:
        api = self.world.party.api
        kind = event.type.split(".")[0]
        if kind == "bank":
            banks = _items(api.get("/api/v1/banks").json())
            return next(b for b in banks if b["code"] == event.data["code"])
        if kind == "bank_account":
            accounts = _items(api.get("/api/v1/bank_accounts").json())
            return next(a for a in accounts if a["id"] == event.object_id)
        path = {
            "account_link": "account_links",
            "deposit": "deposits",
            "withdrawal": "withdrawals",
            "transfer": "withdrawals",
            "card_payment": "card_payments",
        }[kind]
        response = api.get(f"/api/v1/{path}/{event.object_id}")
        assert response.status_code == 200, response.content
        return response.json()

    def __call__(self) -> None:
        new = [
            e
            for e in Event.objects.filter(tenant=self.world.tenant).order_by("created_at")
            if e.pk not in self.seen and e.type.split(".")[0] in BANK_NETWORK_KINDS
        ]
        objects = [(e.object_type, e.object_id) for e in new]
        assert len(objects) == len(set(objects)), "one event per object per step"
        for event in new:
            assert event.data == self.api_view(event), event.type
            self.seen.add(event.pk)
            self.checked.add(event.type)
        self.seen.update(
            Event.objects.filter(tenant=self.world.tenant).values_list("pk", flat=True)
        )


def _code(world, bank_account) -> str:
    return StatementLine.objects.filter(bank_account=bank_account, amount=1).latest("id").memo[-4:]


def test_every_bank_network_event_carries_what_the_api_returns(world):
    check = Checker(world)
    check()  # bank_account.created (Kim's account)

    # Deposits: credited, and returned (no such virtual account)
    world.deposit(5_000_000)
    check()
    world.advance(timedelta(minutes=1))
    check()
    lost = world.deposit(10_000, number=new_account_number())
    check()
    deposits.deposit_settle(deposit_id=lost.pk)
    check()

    # Links: five wrong codes lock one; a new one verifies; another one expires
    link = links.account_link_start(
        node=world.node,
        actor=SYSTEM,
        bank_code="004",
        account_number="123456789012",
        holder_name="Kim Minjun",
    )
    check()
    wrong = "0000" if _code(world, world.kim) != "0000" else "1111"
    for _ in range(5):
        with pytest.raises(ApplicationError):
            links.account_link_confirm(link=link, code=wrong, actor=SYSTEM)
        check()
    link = links.account_link_start(
        node=world.node,
        actor=SYSTEM,
        bank_code="004",
        account_number="123456789012",
        holder_name="Kim Minjun",
    )
    check()
    link = links.account_link_confirm(link=link, code=_code(world, world.kim), actor=SYSTEM)
    check()
    lee = bank_accounts.bank_account_create(
        tenant=world.tenant,
        actor=SYSTEM,
        bank_code="088",
        account_number="110-123-456789",
        holder_name="Lee Jiwoo",
    )
    check()
    late = links.account_link_start(
        node=world.node,
        actor=SYSTEM,
        bank_code="088",
        account_number="110123456789",
        holder_name="Lee Jiwoo",
    )
    check()
    world.advance(timedelta(minutes=11))
    with pytest.raises(ApplicationError):
        links.account_link_confirm(link=late, code=_code(world, lee), actor=SYSTEM)
    check()

    # Withdrawals and transfers: paid, then returned; failed
    for make in (
        lambda: withdrawals.withdrawal_create(
            actor=SYSTEM, account=world.account, amount=10_000, currency="KRW", link=link
        ),
        lambda: world.transfer(20_000),
    ):
        paid = make()
        check()
        world.advance(timedelta(minutes=1))
        check()
        withdrawals.withdrawal_return(withdrawal=paid, actor=SYSTEM)
        check()
        withdrawals.tester_withdrawal_rule(
            node=world.node, actor=SYSTEM, action="fail", count=1, reason="account_closed"
        )
        make()
        check()
        world.advance(timedelta(minutes=1))
        check()

    # Banks: offline and back, for this tenant
    network_banks.tester_bank_offline(tenant=world.tenant, bank=world.kb, actor=SYSTEM)
    check()
    network_banks.tester_bank_online(tenant=world.tenant, bank=world.kb, actor=SYSTEM)
    check()
    bank_accounts.bank_account_close(bank_account=lee, actor=SYSTEM)
    check()

    # Card payments
    card = {"exp_month": 12, "exp_year": 2030, "currency": "KRW", "account": world.account}
    payment = cards.card_authorize(
        actor=SYSTEM, amount=30_000, card_number="4242424242424242", cvc="123", **card
    )
    check()
    payment = cards.card_capture(payment=payment, actor=SYSTEM)
    check()
    cards.card_refund(payment=payment, actor=SYSTEM, amount=10_000)
    check()
    cards.card_refund(payment=payment, actor=SYSTEM)
    check()
    cards.card_authorize(
        actor=SYSTEM, amount=1_000, card_number="4000000000000002", cvc="123", **card
    )
    check()
    challenged = cards.card_authorize(
        actor=SYSTEM, amount=1_000, card_number="4000000000003220", cvc="123", **card
    )
    check()
    cards.card_cancel(payment=challenged, actor=SYSTEM)
    check()
    cards.card_authorize(
        actor=SYSTEM, amount=1_000, card_number="4242424242424242", cvc="123", **card
    )
    check()
    world.advance(timedelta(days=8))
    check()

    assert check.checked == BANK_NETWORK_EVENT_TYPES
