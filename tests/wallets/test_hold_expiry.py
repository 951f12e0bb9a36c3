"""Hold expiry follows the node's clock: a scheduled action at ``expires_at`` (node time),
and the platform-time beat sweep as a backstop that never runs ahead of a test clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.errors import ApplicationError
from sandbox.events import clocks, scheduling
from sandbox.events.models import ScheduledAction
from sandbox.tenants.services import SYSTEM
from tests.factories import AccountFactory, NodeFactory, fund
from wallets import services
from wallets.models import Account, Hold
from wallets.verification import verify_ledger

pytestmark = pytest.mark.django_db

# Years before real time: the platform clock is long past every expiry below.
START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def on_clock():
    node = NodeFactory()
    card, merchant = AccountFactory(node=node), AccountFactory(node=node)
    fund(card, 1_000)
    test_clock = clocks.test_clock_create(
        tenant=node.tenant, actor=SYSTEM, name="holds", frozen_time=START
    )
    clocks.test_clock_attach(clock=test_clock, node=node, actor=SYSTEM)
    return test_clock, card, merchant


def advance(test_clock, to: datetime) -> None:
    clocks.test_clock_advance(clock=test_clock, to=to, actor=SYSTEM)
    assert clocks.test_clock_run_advance(clock_id=test_clock.pk)
    test_clock.refresh_from_db()


def available(account: Account) -> int:
    account.refresh_from_db()
    return account.available_balance


def place(card, merchant, **extra) -> Hold:
    return services.hold_place(
        tenant=card.tenant, account=card, counterparty=merchant, amount=400, currency="KRW", **extra
    )


def expiry_action(hold: Hold) -> ScheduledAction:
    return ScheduledAction.objects.get(kind=services.HOLD_EXPIRY, key=f"hold:{hold.pk}:expiry")


def test_it_expires_a_hold_when_the_nodes_test_clock_passes_expires_at(on_clock):
    test_clock, card, merchant = on_clock
    hold = place(card, merchant)
    # given: the expiry is the node's time plus the default lifetime, with an action due then
    assert hold.expires_at == START + services.DEFAULT_HOLD_LIFETIME
    action = expiry_action(hold)
    assert (action.due_at, action.node_id, action.status) == (
        hold.expires_at,
        card.wallet.node_id,
        "pending",
    )
    assert available(card) == 600

    # when: the clock stops one second short
    advance(test_clock, hold.expires_at - timedelta(seconds=1))
    # then: still pending, and the platform sweep (real time is years later) leaves it alone
    assert Hold.objects.get(pk=hold.pk).status == "pending"
    assert services.holds_expire_due() == 0
    assert services.hold_expire(hold_id=hold.pk) is False
    assert Hold.objects.get(pk=hold.pk).status == "pending"

    # when: the clock passes expires_at
    advance(test_clock, hold.expires_at + timedelta(seconds=1))
    # then: the scheduled action expired it, in node time, and released the money
    hold.refresh_from_db()
    assert hold.status == "expired" and hold.resolved_at == hold.expires_at
    assert expiry_action(hold).status == "done"
    assert available(card) == 1_000
    # running it again changes nothing
    assert services.hold_expire(hold_id=hold.pk) is False
    assert scheduling.action_run(action_id=expiry_action(hold).pk) is False
    assert available(card) == 1_000
    assert verify_ledger().ok


def test_capture_is_judged_by_the_nodes_clock_not_real_time(on_clock):
    test_clock, card, merchant = on_clock
    soon = place(card, merchant, expires_at=START + timedelta(hours=1))
    later = place(card, merchant, expires_at=START + timedelta(hours=2))
    # Real time is years past both expiries; the node's clock is not.
    advance(test_clock, START + timedelta(minutes=90))
    assert Hold.objects.get(pk=soon.pk).status == "expired"
    assert services.hold_capture(hold=later).status == "captured"
    # A hold whose expiry action is gone still cannot be captured once the clock passed it.
    stale = place(card, merchant, expires_at=START + timedelta(hours=3))
    scheduling.cancel(kind=services.HOLD_EXPIRY, key=f"hold:{stale.pk}:expiry")
    advance(test_clock, START + timedelta(hours=4))
    with pytest.raises(ApplicationError) as expired:
        services.hold_capture(hold=stale)
    assert expired.value.code == "hold_expired"
    assert Hold.objects.get(pk=stale.pk).status == "pending"  # reserved until the sweep
    assert available(card) == 1_000 - 400 - 400
    assert services.holds_expire_due() == 1
    assert available(card) == 600
    assert verify_ledger().ok


def test_capturing_or_voiding_cancels_the_expiry_action(on_clock):
    _, card, merchant = on_clock
    captured, voided = place(card, merchant), place(card, merchant)
    services.hold_capture(hold=captured, amount=100)
    services.hold_void(hold=voided)
    assert expiry_action(captured).status == expiry_action(voided).status == "cancelled"
    assert available(card) == 900
    assert verify_ledger().ok


def test_the_beat_sweep_expires_holds_on_platform_time_and_on_a_clock_that_passed_them(
    monkeypatch,
):
    from sandbox import clock

    # given: a node on the platform clock with a hold due in five minutes
    node = NodeFactory()
    card, merchant = AccountFactory(node=node), AccountFactory(node=node)
    fund(card, 1_000)
    hold = place(card, merchant, expires_at=clock.now() + timedelta(minutes=5))
    assert services.holds_expire_due() == 0
    # when: platform time passes it, the sweep expires it
    later = clock.now() + timedelta(minutes=6)
    monkeypatch.setattr("sandbox.clock.now", lambda **_: later)
    assert services.holds_expire_due() == 1
    assert Hold.objects.get(pk=hold.pk).status == "expired"
    # and the scheduled action that comes after finds nothing to do
    assert scheduling.action_run(action_id=expiry_action(hold).pk)
    assert expiry_action(hold).status == "done"
    assert available(card) == 1_000
    assert verify_ledger().ok


def test_the_beat_sweep_expires_a_hold_whose_clock_already_stands_past_it(on_clock):
    test_clock, card, merchant = on_clock
    hold = place(card, merchant, expires_at=START + timedelta(hours=1))
    # The action was lost (say, cancelled by hand); the clock then moved past the expiry.
    scheduling.cancel(kind=services.HOLD_EXPIRY, key=f"hold:{hold.pk}:expiry")
    advance(test_clock, START + timedelta(hours=2))
    assert Hold.objects.get(pk=hold.pk).status == "pending"
    assert services.holds_expire_due() == 1
    assert Hold.objects.get(pk=hold.pk).status == "expired"
    assert available(card) == 1_000
    assert verify_ledger().ok


def test_a_hold_on_a_platform_account_follows_the_platform_clock(on_clock):
    _, card, _ = on_clock
    settlement = services.platform_account(purpose="settlement", currency="KRW")
    hold = services.hold_place(
        tenant=None, account=settlement, counterparty=card, amount=100, currency="KRW"
    )
    action = expiry_action(hold)
    assert action.node_id is None
    # Platform time, not the 2024 test clock of the counterparty's node.
    assert hold.expires_at - services.DEFAULT_HOLD_LIFETIME > START + timedelta(days=365)
    services.hold_void(hold=hold)
    assert verify_ledger().ok
