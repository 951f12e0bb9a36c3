"""Account verification, the Korean way: 1 KRW with a code; five wrong codes lock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.errors import Conflict, NotFound, Unprocessable
from sandbox.events.models import Event
from sandbox.tenants.services import SYSTEM
from wallets.banknet import links, withdrawals
from wallets.banknet.models import AccountLink, StatementLine

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("books_balance")]


def start(world, **overrides):
    args = {"bank_code": "004", "account_number": "123456789012", "holder_name": "Kim Minjun"}
    return links.account_link_start(node=world.node, actor=SYSTEM, **{**args, **overrides})


def code_on_statement(world) -> str:
    line = StatementLine.objects.filter(bank_account=world.kim, amount=1).latest("id")
    return line.memo.split()[-1]


def test_the_bank_sends_one_won_with_a_code_and_the_right_code_verifies(world):
    link = start(world)
    code = code_on_statement(world)
    assert len(code) == 4 and code.isdigit()
    assert link.verification_transaction.amount == 1
    assert code not in str(Event.objects.get(type="account_link.code_sent").data)

    link = links.account_link_confirm(link=link, code=code, actor=SYSTEM)

    assert link.status == "verified"
    assert Event.objects.filter(type="account_link.verified").exists()


def test_five_wrong_codes_lock_the_link(world):
    link = start(world)
    code = code_on_statement(world)
    wrong = "0000" if code != "0000" else "1111"
    for left in (4, 3, 2, 1):
        with pytest.raises(Unprocessable) as refused:
            links.account_link_confirm(link=link, code=wrong, actor=SYSTEM)
        assert refused.value.fields["attempts_left"] == left
    with pytest.raises(Conflict) as locked:
        links.account_link_confirm(link=link, code=wrong, actor=SYSTEM)
    assert locked.value.code == "link_locked"
    with pytest.raises(Conflict):  # even the right code is refused now
        links.account_link_confirm(link=link, code=code, actor=SYSTEM)
    link.refresh_from_db()
    assert (link.status, link.failed_attempts) == ("locked", 5)
    assert Event.objects.filter(type="account_link.code_rejected").count() == 4
    assert Event.objects.filter(type="account_link.locked").count() == 1


def test_the_code_expires_after_ten_minutes_of_node_time(world):
    link = start(world)
    world.advance(timedelta(minutes=11))
    with pytest.raises(Conflict) as refused:
        links.account_link_confirm(link=link, code=code_on_statement(world), actor=SYSTEM)
    assert refused.value.code == "code_expired"
    assert AccountLink.objects.get(pk=link.pk).status == "expired"


@pytest.mark.parametrize(
    "overrides,error,code",
    [
        ({"holder_name": "Park Jiho"}, Unprocessable, "holder_name_mismatch"),
        ({"account_number": "999999999999"}, NotFound, "bank_account_not_found"),
    ],
)
def test_the_bank_checks_the_account_and_the_holder_first(world, overrides, error, code):
    with pytest.raises(error) as refused:
        start(world, **overrides)
    assert refused.value.code == code
    assert not AccountLink.objects.exists() and not StatementLine.objects.exists()


def test_a_withdrawal_goes_to_a_verified_link_only(world):
    world.fund(20_000)
    link = start(world)
    with pytest.raises(Conflict) as refused:
        withdrawals.withdrawal_create(
            actor=SYSTEM, account=world.account, amount=1_000, currency="KRW", link=link
        )
    assert refused.value.code == "link_not_verified"
    link = links.account_link_confirm(link=link, code=code_on_statement(world), actor=SYSTEM)

    w = withdrawals.withdrawal_create(
        actor=SYSTEM, account=world.account, amount=1_000, currency="KRW", link=link
    )
    world.advance(timedelta(minutes=1))
    w.refresh_from_db()
    assert (w.kind, w.status, w.holder_name) == ("withdrawal", "succeeded", "Kim Minjun")
