"""Test clocks (a tenant's simulated time) and the operators' platform clock: their rows and
the services that move them. What time it is, is computed by ``sandbox.clock``, which reads
these rows through the readers below (registered in ``EventsConfig.ready()``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sandbox.clock import PlatformRow, platform_time
from sandbox.clock import now as clock_now
from sandbox.errors import ApplicationError, Conflict, Forbidden
from sandbox.events import queue, scheduling
from sandbox.events.models import ClockAttachment, PlatformClock, ScheduledAction, TestClock
from sandbox.events.services import action_record, event_record, outbox_relay
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor, audit_record

logger = logging.getLogger(__name__)

MAX_ADVANCE = timedelta(days=2 * 366)
MAX_STEPS = 20_000  # actions one advance may run; a guard against handlers that loop
ADVANCE_LEASE = timedelta(minutes=5)
MAX_NODES_PER_CLOCK = 20
ADVANCE_TASK = "events.advance_test_clock"


# Called with a node, in the transaction, when the node joins or leaves a test clock (its
# time jumps): features with a recurring schedule in node time (end of day) re-anchor it.
_ON_NODE_CLOCK_CHANGE: list[Callable[[Node], None]] = []


def on_node_clock_change(func: Callable[[Node], None]) -> Callable[[Node], None]:
    """Register ``func(node)``; register in a module your AppConfig.ready() imports."""
    _ON_NODE_CLOCK_CHANGE.append(func)
    return func


def _node_clock_changed(node: Node) -> None:
    for func in _ON_NODE_CLOCK_CHANGE:
        func(node)


# Called as ``func(clock_id=..., start=..., end=...)`` before an advance moves a clock from
# ``start`` to ``end``, outside any database transaction; nothing of the clock's nodes falls
# due in between. Features that end a period of the clock's time at a boundary do it here
# (clearing closes the clock's day at midnight) without this app importing theirs.
_ON_CLOCK_MOVE: list[Callable[..., None]] = []


def on_clock_move(func: Callable[..., None]) -> Callable[..., None]:
    """Register ``func``; register in your AppConfig.ready(). Registering twice is a no-op."""
    if func not in _ON_CLOCK_MOVE:
        _ON_CLOCK_MOVE.append(func)
    return func


def _clock_moving(clock_id, start: datetime, end: datetime) -> list[str]:
    """Run the hooks; a hook that fails does not stop the advance (the clock cannot stay
    behind its nodes' due work). Returns what failed, for the clock's ``last_error``."""
    errors = []
    for func in _ON_CLOCK_MOVE:
        try:
            func(clock_id=clock_id, start=start, end=end)
        except Exception as exc:
            logger.exception("Test clock %s: %s failed", clock_id, getattr(func, "__name__", func))
            errors.append(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
    return errors


# --- What time is it? ------------------------------------------------------------------------


def platform_clock_row() -> PlatformRow | None:
    """The platform clock's row, (offset_seconds, frozen_time), or None before it has one.
    ``sandbox.clock`` reads it through this (registered in ``EventsConfig.ready()``)."""
    return PlatformClock.objects.filter(pk=1).values_list("offset_seconds", "frozen_time").first()


def node_clock_time(node_id: Any) -> datetime | None:
    """The frozen time of the test clock ``node_id`` follows, or None (it follows the
    platform clock). ``sandbox.clock`` reads it through this."""
    return (
        ClockAttachment.objects.filter(node_id=node_id)
        .values_list("clock__frozen_time", flat=True)
        .first()
    )


# --- Test clocks -----------------------------------------------------------------------------


def _lock(clock: TestClock) -> TestClock:
    return TestClock.objects.select_for_update().get(pk=clock.pk)


def _require_ready(clock: TestClock) -> None:
    if clock.status != TestClock.Status.READY:
        raise Conflict("The clock is advancing; wait until it is ready.", code="clock_advancing")


def _clock_data(clock: TestClock) -> dict:
    return {
        "name": clock.name,
        "frozen_time": clock.frozen_time.isoformat(),
        "status": clock.status,
    }


@transaction.atomic
def test_clock_create(
    *, tenant: Tenant, actor: Actor, name: str, frozen_time: datetime | None = None
) -> TestClock:
    name = name.strip()
    if not name:
        raise ApplicationError(
            "The clock needs a name.",
            code="invalid_name",
            fields={"name": ["This field may not be blank."]},
        )
    clock = TestClock.objects.create(
        tenant=tenant, name=name[:80], frozen_time=frozen_time or clock_now()
    )
    action_record(
        actor=actor,
        action="test_clock.created",
        tenant=tenant,
        obj=clock,
        data=_clock_data(clock),
        audit_data=_clock_data(clock),
    )
    return clock


@transaction.atomic
def test_clock_attach(*, clock: TestClock, node: Node, actor: Actor) -> ClockAttachment:
    """From now on ``node`` lives at the clock's time. Its pending actions keep their due
    times and run when the clock passes them."""
    clock = _lock(clock)
    _require_ready(clock)
    if node.tenant_id != clock.tenant_id:
        raise Forbidden("The node belongs to another organization.", code="node_not_yours")
    if not node.is_active:
        raise Conflict("A deactivated node cannot follow a clock.", code="node_inactive")
    existing = ClockAttachment.objects.filter(node=node).select_related("clock").first()
    if existing is not None:
        raise Conflict(
            f"The node already follows the clock “{existing.clock.name}”.", code="node_on_clock"
        )
    if clock.attachments.count() >= MAX_NODES_PER_CLOCK:
        raise Conflict(f"A clock takes at most {MAX_NODES_PER_CLOCK} nodes.", code="clock_full")
    attachment = ClockAttachment.objects.create(node=node, clock=clock)
    action_record(
        actor=actor,
        action="test_clock.node_attached",
        tenant=clock.tenant,
        obj=clock,
        node=node,
        data=_clock_data(clock),
        audit_data={"node": str(node.pk)},
    )
    _node_clock_changed(node)
    return attachment


@transaction.atomic
def test_clock_detach(*, clock: TestClock, node: Node, actor: Actor) -> None:
    """The node goes back to the platform clock; pending actions keep their due times."""
    clock = _lock(clock)
    _require_ready(clock)
    deleted, _ = ClockAttachment.objects.filter(node=node, clock=clock).delete()
    if not deleted:
        raise Conflict("The node does not follow this clock.", code="node_not_on_clock")
    action_record(
        actor=actor,
        action="test_clock.node_detached",
        tenant=clock.tenant,
        obj=clock,
        node=node,
        data=_clock_data(clock),
        audit_data={"node": str(node.pk)},
    )
    _node_clock_changed(node)


@transaction.atomic
def test_clock_delete(*, clock: TestClock, actor: Actor) -> None:
    """Its nodes go back to the platform clock."""
    clock = _lock(clock)
    _require_ready(clock)
    data = {**_clock_data(clock), "nodes": [str(a.node_id) for a in clock.attachments.all()]}
    action_record(
        actor=actor,
        action="test_clock.deleted",
        tenant=clock.tenant,
        obj=clock,
        data=data,
        audit_data=data,
    )
    nodes = list(Node.objects.filter(clock_attachment__clock=clock))
    clock.delete()
    for node in nodes:
        _node_clock_changed(node)


@transaction.atomic
def test_clock_advance(*, clock: TestClock, to: datetime, actor: Actor) -> TestClock:
    """Start moving the clock to ``to``. A Celery task then runs, in due-time order, every
    action of the clock's nodes that falls due on the way, with the clock standing at each
    action's due time, and finally sets it to ``to`` (status ``ready`` again)."""
    clock = _lock(clock)
    _require_ready(clock)
    if to <= clock.frozen_time:
        raise ApplicationError(
            "A clock only moves forward.",
            code="clock_backwards",
            fields={"frozen_time": [f"Must be after {clock.frozen_time.isoformat()}."]},
        )
    if to - clock.frozen_time > MAX_ADVANCE:
        raise ApplicationError(
            "One advance moves at most two years.",
            code="advance_too_far",
            fields={"frozen_time": ["At most two years ahead."]},
        )
    clock.status = TestClock.Status.ADVANCING
    clock.advance_to = to
    clock.last_error = ""
    clock.save(update_fields=["status", "advance_to", "last_error", "updated_at"])
    data = {**_clock_data(clock), "advance_to": to.isoformat()}
    action_record(
        actor=actor,
        action="test_clock.advanced",
        event_type="test_clock.advancing",
        tenant=clock.tenant,
        obj=clock,
        data=data,
        audit_data=data,
    )
    clock_id = str(clock.pk)
    transaction.on_commit(lambda: queue.enqueue(ADVANCE_TASK, clock_id), robust=True)
    return clock


def _next_due(clock_id, target: datetime) -> ScheduledAction | None:
    return (
        ScheduledAction.objects.filter(
            Q(status=ScheduledAction.Status.PENDING)
            | Q(status=ScheduledAction.Status.RUNNING, lease_until__lt=timezone.now()),
            node__clock_attachment__clock_id=clock_id,
            due_at__lte=target,
        )
        .order_by("due_at", "pk")
        .first()
    )


def test_clock_run_advance(*, clock_id) -> bool:
    """Do the work of an advance (the Celery task calls this). Claimed with a lease, so two
    workers never advance one clock at once; False when there was nothing to claim."""
    real_now = timezone.now()
    claimed = (
        TestClock.objects.filter(pk=clock_id, status=TestClock.Status.ADVANCING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=real_now))
        .update(lease_until=real_now + ADVANCE_LEASE)
    )
    if claimed != 1:
        return False
    target, frozen = TestClock.objects.values_list("advance_to", "frozen_time").get(pk=clock_id)
    assert target is not None  # an advancing clock has one (test_clock_advance sets both)
    steps, errors = 0, []
    while True:
        # Events written by the previous step get their webhook deliveries (and first
        # attempts, due "now") at this point of the clock's time.
        outbox_relay()
        action = _next_due(clock_id, target)
        if action is None:
            break
        steps += 1
        if steps > MAX_STEPS:
            error = f"Stopped after {MAX_STEPS} actions; the rest runs at the next advance."
            logger.error("Test clock %s: %s", clock_id, error)
            errors.append(error)
            break
        # A period that ends before the action is due (the clock's day, at midnight) ends
        # first, without what the action posts.
        errors += _clock_moving(clock_id, frozen, action.due_at)
        TestClock.objects.filter(pk=clock_id, frozen_time__lt=action.due_at).update(
            frozen_time=action.due_at
        )
        frozen = max(frozen, action.due_at)
        TestClock.objects.filter(pk=clock_id).update(lease_until=timezone.now() + ADVANCE_LEASE)
        scheduling.action_run(action_id=action.pk)
    errors += _clock_moving(clock_id, frozen, target)
    with transaction.atomic():
        clock = TestClock.objects.select_for_update().get(pk=clock_id)
        clock.frozen_time = max(clock.frozen_time, target)
        clock.status = TestClock.Status.READY
        clock.advance_to = None
        clock.lease_until = None
        clock.last_error = "; ".join(errors)[:300]
        clock.save()
        event_record(
            tenant=clock.tenant,
            node=None,
            type="test_clock.ready",
            obj=clock,
            data={**_clock_data(clock), "actions_run": steps},
        )
    return True


def resume_stalled_advances() -> int:
    """Queue advances whose task never started (broker down when they were asked for) or
    whose worker died; the lease keeps this from doubling a running one."""
    real_now = timezone.now()
    stalled = TestClock.objects.filter(
        status=TestClock.Status.ADVANCING, updated_at__lt=real_now - timedelta(seconds=30)
    ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=real_now))
    queued = 0
    for clock_id in stalled.values_list("pk", flat=True):
        if not queue.enqueue(ADVANCE_TASK, str(clock_id)):
            break
        queued += 1
    return queued


# --- The platform clock (operators) ----------------------------------------------------------


def _operator_only(actor: Actor) -> None:
    if not actor.is_operator:
        raise Forbidden("Only operators may move the platform clock.", code="operator_only")


def _platform_clock_locked() -> PlatformClock:
    PlatformClock.objects.get_or_create(pk=1)
    return PlatformClock.objects.select_for_update().get(pk=1)


def _after_platform_change(platform: PlatformClock, actor: Actor, action: str, data: dict) -> None:
    platform.updated_by = actor.label
    platform.save()
    audit_record(actor=actor, action=f"platform_clock.{action}", tenant=None, data=data)
    transaction.on_commit(lambda: queue.enqueue(scheduling.SWEEP_TASK), robust=True)


@transaction.atomic
def platform_clock_advance(*, actor: Actor, seconds: int) -> PlatformClock:
    """Move the platform clock forward; what falls due runs at the next sweep."""
    _operator_only(actor)
    if seconds <= 0 or seconds > MAX_ADVANCE.total_seconds():
        raise ApplicationError(
            "Advance by 1 second to two years.",
            code="invalid_advance",
            fields={"seconds": ["Out of range."]},
        )
    platform = _platform_clock_locked()
    if platform.frozen_time is not None:
        platform.frozen_time += timedelta(seconds=seconds)
    else:
        platform.offset_seconds += seconds
    _after_platform_change(platform, actor, "advanced", {"seconds": seconds})
    return platform


@transaction.atomic
def platform_clock_advance_to(*, actor: Actor, moment: datetime) -> PlatformClock:
    """Move the platform clock forward to ``moment`` (a later date and time, at most two
    years ahead); a stopped clock stays stopped there. Audited like an advance, with the
    target time."""
    _operator_only(actor)
    if timezone.is_naive(moment):
        raise ApplicationError(
            "Give the time with its time zone.", code="invalid_advance", fields={"to": ["Naive."]}
        )
    platform = _platform_clock_locked()
    current = platform_time(platform.offset_seconds, platform.frozen_time)
    # Rounded up to whole seconds, the offset's unit: the clock lands on ``moment`` or just after.
    seconds = math.ceil((moment - current).total_seconds())
    if seconds <= 0 or seconds > MAX_ADVANCE.total_seconds():
        raise ApplicationError(
            f"Pick a time after the platform's ({current:%Y-%m-%d %H:%M:%S %Z}) and at most two"
            " years ahead: the platform clock only moves forward.",
            code="invalid_advance",
            fields={"to": ["Out of range."]},
        )
    if platform.frozen_time is not None:
        platform.frozen_time = moment
    else:
        platform.offset_seconds += seconds
    data = {"to": moment.isoformat(), "seconds": seconds}
    _after_platform_change(platform, actor, "advanced", data)
    return platform


@transaction.atomic
def platform_clock_freeze(*, actor: Actor) -> PlatformClock:
    """Stop the platform clock where it stands."""
    _operator_only(actor)
    platform = _platform_clock_locked()
    if platform.frozen_time is None:
        platform.frozen_time = timezone.now() + timedelta(seconds=platform.offset_seconds)
    _after_platform_change(platform, actor, "frozen", {"at": platform.frozen_time.isoformat()})
    return platform


@transaction.atomic
def platform_clock_resume(*, actor: Actor) -> PlatformClock:
    """Let a stopped platform clock run again from where it stands."""
    _operator_only(actor)
    platform = _platform_clock_locked()
    if platform.frozen_time is not None:
        # Rounded up: the clock must not step back over the time it stood at.
        platform.offset_seconds = math.ceil((platform.frozen_time - timezone.now()).total_seconds())
        platform.frozen_time = None
    _after_platform_change(platform, actor, "resumed", {"offset_seconds": platform.offset_seconds})
    return platform


@transaction.atomic
def platform_clock_reset(*, actor: Actor) -> PlatformClock:
    """Back to real time (which may be earlier than the shifted time)."""
    _operator_only(actor)
    platform = _platform_clock_locked()
    platform.offset_seconds = 0
    platform.frozen_time = None
    _after_platform_change(platform, actor, "reset", {})
    return platform
