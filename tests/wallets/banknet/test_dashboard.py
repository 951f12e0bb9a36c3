"""Driving the bank network from the browser: every outcome, and nobody else's objects."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sandbox.events import scheduling
from sandbox.tenants.models import AuditLogEntry, Membership
from sandbox.tenants.services import SYSTEM
from tests.factories import MembershipFactory, NodeFactory
from tests.helpers import web_as as browser
from wallets import banks
from wallets import services as ledger
from wallets.banknet.models import (
    AccountLink,
    Bank,
    BankAccount,
    BankOutage,
    CardPayment,
    Deposit,
    ScenarioRun,
    StatementLine,
    Withdrawal,
)
from wallets.models import Account

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]

EXAMPLE = (
    Path(__file__).resolve().parents[3] / "docs" / "scenarios" / "deposit_transfer_return.yaml"
)


def node_post(client, world, action, **data):
    response = client.post(f"/bank/nodes/{world.node.pk}/", {"action": action, **data})
    assert response.status_code in (200, 302), response.status_code
    return response


def key(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def test_a_tester_drives_every_outcome_from_the_browser(world):
    owner = browser(world.party.owner)
    assert "Simulated bank accounts" in owner.get("/bank/").content.decode()

    # open an account for a simulated company
    owner.post(
        "/bank/",
        {
            "bank_code": "088",
            "account_number": "110234567890",
            "holder_name": "Lee Corp",
            "holder_type": "company",
        },
    )
    lee = BankAccount.objects.get(holder_name="Lee Corp")

    # deposit, then time passes
    node_post(
        owner,
        world,
        "deposit",
        sender=str(world.kim.pk),
        account=str(world.account.pk),
        amount="80000",
        memo="",
        delay_seconds="0",
        idempotency_key=key(1),
    )
    node_post(
        owner,
        world,
        "deposit",
        sender=str(world.kim.pk),
        account=str(world.account.pk),
        amount="80000",
        memo="",
        delay_seconds="0",
        idempotency_key=key(1),
    )
    assert Deposit.objects.count() == 1  # a double submit deposits once
    world.advance(timedelta(minutes=1))
    assert world.balance() == (80_000, 0, 0)

    # a failing rule, a failing and a paid transfer, then a return
    node_post(owner, world, "fail", count="1", reason="account_closed")
    for n in (2, 3):
        node_post(
            owner,
            world,
            "transfer",
            account=str(world.account.pk),
            bank_code="088",
            account_number="110234567890",
            holder_name="Lee Corp",
            amount="10000",
            memo="",
            idempotency_key=key(n),
        )
    world.advance(timedelta(minutes=1))
    failed, paid = Withdrawal.objects.order_by("created_at")
    assert (failed.status, failed.failure_reason, paid.status) == (
        "failed",
        "account_closed",
        "succeeded",
    )
    page = owner.get(f"/bank/nodes/{world.node.pk}/").content.decode()
    assert "account_closed" in page and "return" in page
    owner.post(f"/bank/withdrawals/{paid.pk}/return/")
    assert Withdrawal.objects.get(pk=paid.pk).status == "returned"
    assert StatementLine.objects.filter(bank_account=lee).count() == 2

    # account verification with the code read from the statement
    node_post(
        owner,
        world,
        "link",
        bank_code="004",
        account_number="123456789012",
        holder_name="Kim Minjun",
    )
    link = AccountLink.objects.get()
    statement = owner.get(f"/bank/accounts/{world.kim.pk}/").content.decode()
    assert f"SANDBOX {link.code}" in statement
    node_post(owner, world, "confirm", link=str(link.pk), code=link.code)
    assert AccountLink.objects.get().status == "verified"
    node_post(
        owner,
        world,
        "withdraw",
        account=str(world.account.pk),
        link=str(link.pk),
        amount="5000",
        idempotency_key=key(4),
    )
    assert Withdrawal.objects.filter(kind="withdrawal").count() == 1

    # card payments: approve, capture, refund, and a challenge
    node_post(
        owner,
        world,
        "card",
        account=str(world.account.pk),
        card_number="4242424242424242",
        amount="20000",
        exp_month="12",
        exp_year="2030",
        cvc="123",
        idempotency_key=key(5),
    )
    payment = CardPayment.objects.get()
    owner.post(f"/bank/cards/{payment.pk}/capture/")
    owner.post(f"/bank/cards/{payment.pk}/refund/", {"amount": "5000"})
    assert CardPayment.objects.get(pk=payment.pk).status == "partially_refunded"
    node_post(
        owner,
        world,
        "card",
        account=str(world.account.pk),
        card_number="4000000000003220",
        amount="1000",
        exp_month="12",
        exp_year="2030",
        cvc="123",
        idempotency_key=key(6),
    )
    challenged = CardPayment.objects.get(status="requires_challenge")
    owner.post(f"/bank/cards/{challenged.pk}/fail/")
    assert CardPayment.objects.get(pk=challenged.pk).decline_code == "authentication_failed"

    # a bank offline and back
    owner.post("/bank/banks/004/offline/")
    assert BankOutage.objects.filter(ended_at__isnull=True).exists()
    owner.post("/bank/banks/004/online/")
    assert not BankOutage.objects.filter(ended_at__isnull=True).exists()

    # the activity log shows who did all this
    activity = owner.get("/bank/scenarios/").content.decode()
    for action in (
        "test_helper.deposit",
        "test_helper.fail_withdrawals",
        "test_helper.return",
        "test_helper.bank_offline",
    ):
        assert action in activity
    assert world.party.owner.email in activity


def test_a_scenario_is_uploaded_and_its_report_shown(world):
    owner = browser(world.party.owner)
    upload = SimpleUploadedFile("s.yaml", EXAMPLE.read_bytes(), content_type="application/x-yaml")
    response = owner.post("/bank/scenarios/", {"file": upload})
    run = ScenarioRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/bank/scenarios/{run.pk}/"
    page = owner.get(f"/bank/scenarios/{run.pk}/").content.decode()
    assert "PASSED" in page and run.passed
    bad = owner.post("/bank/scenarios/", {"text": "nope: 1"})
    assert "Unknown top-level keys" in bad.content.decode()


def test_an_outsider_gets_404_everywhere(world, outsider):
    world.fund(10_000)
    transfer = world.transfer(1_000)
    stranger = browser(outsider.owner)
    for path in (f"/bank/nodes/{world.node.pk}/", f"/bank/accounts/{world.kim.pk}/"):
        assert stranger.get(path).status_code == 404, path
    for path, data in [
        (
            f"/bank/nodes/{world.node.pk}/",
            {"action": "fail", "count": 1, "reason": "account_closed"},
        ),
        (f"/bank/accounts/{world.kim.pk}/", {}),
        (f"/bank/withdrawals/{transfer.pk}/return/", {}),
    ]:
        assert stranger.post(path, data).status_code == 404, path
    assert BankAccount.objects.get(pk=world.kim.pk).status == "open"
    assert not AuditLogEntry.objects.filter(
        tenant=outsider.tenant, action__startswith="test_helper"
    ).exists()


def test_viewers_look_but_do_not_touch(world):
    viewer = browser(MembershipFactory(tenant=world.tenant, role=Membership.Role.VIEWER).user)
    page = viewer.get(f"/bank/nodes/{world.node.pk}/")
    assert page.status_code == 200 and "Simulate a deposit" not in page.content.decode()
    assert (
        viewer.post(
            f"/bank/nodes/{world.node.pk}/",
            {"action": "fail", "count": 1, "reason": "account_closed"},
        ).status_code
        == 403
    )
    assert viewer.post("/bank/banks/004/offline/").status_code == 403


def test_operators_edit_a_banks_window(operator, world):
    ops = browser(operator)
    assert "KB Kookmin Bank" in ops.get("/operator/banks/").content.decode()
    form = {
        "opens_at": "00:00",
        "closes_at": "00:00",
        "business_days": "0123456",
        "maintenance_starts_at": "22:00",
        "maintenance_ends_at": "23:00",
        "processing_delay_seconds": "3",
        "daily_withdrawal_limit": "1000000",
        "is_online": "on",
    }
    saved = ops.post("/operator/banks/004/", form)
    assert saved["Location"] == "/operator/banks/#bank-004"
    bank = Bank.objects.get(pk="004")
    assert (
        bank.maintenance_starts_at.hour,
        bank.processing_delay_seconds,
        bank.daily_withdrawal_limit,
    ) == (22, 3, 1_000_000)
    assert browser(world.party.owner).get("/operator/banks/").status_code == 302
    assert browser(world.party.owner).get("/operator/banks/004/").status_code == 302


def test_the_banks_page_is_a_table_with_one_edit_form_per_bank(operator):
    page = browser(operator).get("/operator/banks/").content.decode()

    assert 'name="opens_at"' not in page  # the forms are on each bank's own page
    for code in Bank.objects.values_list("code", flat=True):
        assert f'id="bank-{code}"' in page and f'href="/operator/banks/{code}/"' in page


def test_a_refused_bank_edit_keeps_what_was_typed_and_says_why(operator):
    ops = browser(operator)
    before = Bank.objects.get(pk="004")
    form = {
        "opens_at": "08:30",
        "closes_at": "17:45",
        "business_days": "01234",
        "maintenance_starts_at": "22:15",
        "maintenance_ends_at": "",  # a window needs both ends
        "processing_delay_seconds": "42",
        "daily_withdrawal_limit": "2500000",
    }

    answer = ops.post("/operator/banks/004/", form)

    assert answer.status_code == 200
    html = answer.content.decode()
    assert "Give both times, or neither." in html
    for typed in (
        'value="08:30"',
        'value="17:45"',
        'value="22:15"',
        'value="42"',
        'value="2500000"',
    ):
        assert typed in html
    after = Bank.objects.get(pk="004")
    assert (after.processing_delay_seconds, after.updated_at) == (
        before.processing_delay_seconds,
        before.updated_at,
    )


@pytest.mark.parametrize("case", ["unknown", "closed", "another_tenants"])
def test_a_tester_sends_a_deposit_that_comes_back_from_the_browser(world, outsider, case):
    number, expected = banks.new_account_number(), "account_not_found"
    if case == "closed":
        closed = ledger.account_create(
            wallet=world.account.wallet, actor=SYSTEM, currency="KRW", name="old", bank_code="004"
        )
        ledger.account_close(account=closed, actor=SYSTEM)
        number, expected = banks.format_account_number(closed.account_number), "account_closed"
    elif case == "another_tenants":
        theirs = Account.objects.get(wallet__node=NodeFactory(tenant=outsider.tenant))
        number = theirs.account_number
    owner = browser(world.party.owner)
    page = owner.get(f"/bank/nodes/{world.node.pk}/").content.decode()
    assert 'name="account_number"' in page and "a number typed below" in page

    node_post(
        owner,
        world,
        "deposit",
        sender=str(world.kim.pk),
        account="",
        bank_code="004",
        account_number=number,
        amount="10000",
        memo="",
        delay_seconds="0",
        idempotency_key=key(7),
    )
    world.advance(timedelta(minutes=1))
    scheduling.sweep()  # unknown numbers bounce at once, on real time

    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.return_reason) == ("returned", expected)
    assert [line.amount for line in world.kim.lines.order_by("id")] == [-10_000, 10_000]
    assert world.balance() == (0, 0, 0)


@pytest.mark.parametrize(
    "to,error",
    [
        ({"account": "", "account_number": ""}, "Pick one of your accounts, or type any number"),
        ({"account_number": "91234567890123"}, "Pick one of your accounts or type a number."),
        ({"account": "", "account_number": "12345"}, "14 digits with a check digit"),
        ({"account": "", "bank_code": "021000021"}, "Select a valid choice"),
    ],
)
def test_the_deposit_form_says_what_is_wrong_with_its_recipient(world, to, error):
    response = node_post(
        browser(world.party.owner),
        world,
        "deposit",
        **{
            "sender": str(world.kim.pk),
            "account": str(world.account.pk),
            "bank_code": "004",
            "account_number": "",
            "amount": "10000",
            "memo": "",
            "delay_seconds": "0",
            "idempotency_key": key(8),
            **to,
        },
    )
    assert response.status_code == 200 and error in response.content.decode()
    assert not Deposit.objects.exists()


def test_an_unknown_bank_is_a_404_not_a_500(world):
    owner = browser(world.party.owner)
    for action in ("offline", "online"):
        assert owner.post(f"/bank/banks/999/{action}/").status_code == 404
    assert not BankOutage.objects.exists()


def test_operators_editing_an_unknown_bank_get_a_404(operator):
    ops = browser(operator)
    before = list(Bank.objects.values_list("code", "updated_at"))
    assert ops.get("/operator/banks/999/").status_code == 404
    assert ops.post("/operator/banks/999/", {"processing_delay_seconds": "1"}).status_code == 404
    assert list(Bank.objects.values_list("code", "updated_at")) == before


# --- Live lists (htmx polling) ---------------------------------------------------------------


def test_the_bank_pages_poll_their_live_lists(world):
    owner = browser(world.party.owner)
    assert 'hx-get="/bank/live/"' in owner.get("/bank/").content.decode()
    node_page = owner.get(f"/bank/nodes/{world.node.pk}/").content.decode()
    assert f'hx-get="/bank/nodes/{world.node.pk}/live/"' in node_page
    assert 'id="node-balances"' in node_page and "hx-swap-oob" not in node_page


def test_the_live_lists_show_new_deposits_withdrawals_and_balances(world):
    owner = browser(world.party.owner)
    world.fund(50_000)
    world.transfer(20_000)
    home = owner.get("/bank/live/")
    assert home.status_code == 200 and "<html" not in home.content.decode()
    # the deposit of 50,000 and the transfer of 20,000 in the lists
    assert "50000 KRW" in home.content.decode() and "20000 KRW" in home.content.decode()
    live = owner.get(f"/bank/nodes/{world.node.pk}/live/").content.decode()
    assert "<html" not in live and "50000 KRW" in live and "20000 KRW" in live
    # the balances come along, swapped in out of band
    assert 'id="node-balances" hx-swap-oob="true"' in live
    assert '<td class="num">50000</td><td class="num">0</td><td class="num">20000</td>' in live


def test_an_outsider_sees_nothing_of_the_live_lists(world, outsider):
    world.fund(50_000)
    stranger = browser(outsider.owner)
    assert stranger.get(f"/bank/nodes/{world.node.pk}/live/").status_code == 404
    home = stranger.get("/bank/live/")
    assert home.status_code == 200 and "Kim Minjun" not in home.content.decode()


def test_the_live_lists_send_anonymous_visitors_to_log_in(world):
    for path in ("/bank/live/", f"/bank/nodes/{world.node.pk}/live/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path
