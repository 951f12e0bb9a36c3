"""Settlement windows, their netting and settlement, and settlement contracts.

Windows (``SettlementWindow``) group closed days per settlement cycle: a daily window is one
day and settles the day after; a T+1 window is one day and settles the second day after; a
weekly window is Monday to Sunday and settles the Monday after. A node follows the cycle of
its ``SettlementContract`` (daily without one).

Settling a window: check that every covered day is closed and still matches its anchor
(``clearing.verification.verify_day``), read the inter-node transactions of those days,
turn them into obligations (``clearing.netting``), compute gross, bilateral and
multilateral positions per currency, and post, through the ledger's posting service, one
settlement transaction per node and currency between the node bank's settlement account and
the clearing hub (the platform's suspense account): the hub is the central counterparty, so
nodes on different cycles settle independently. All of it happens in one database
transaction, under a row lock on the window, after checking it is still CLOSED: a window is
never settled twice, and within a cycle, windows settle in order (none skipped).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from clearing import netting
from clearing.encoding import day_bounds, today
from clearing.jobs import job_create, job_finish, job_progress, job_start
from clearing.models import (
    DayClose,
    Job,
    NetDebitCap,
    SettlementContract,
    SettlementCycle,
    SettlementInstruction,
    SettlementPosition,
    SettlementWindow,
)
from clearing.verification import Report, verify_day
from sandbox.currencies import to_decimal_string
from sandbox.errors import ApplicationError
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor, audit_record
from wallets import services as wallet_services
from wallets.banks import DEFAULT_BANK_CODE
from wallets.models import Account, Entry
from wallets.posting import Leg, Posting, post

HUB_PURPOSE = Account.Purpose.SUSPENSE


class SettlementError(ApplicationError):
    default_code = "settlement_refused"


# --- Windows ---------------------------------------------------------------------------------


def window_bounds(cycle: str, day: date) -> tuple[date, date, date]:
    """(start, end, settle_on) of the ``cycle`` window that covers ``day``."""
    if cycle == SettlementCycle.DAILY:
        return day, day, day + timedelta(days=1)
    if cycle == SettlementCycle.T_PLUS_1:
        return day, day, day + timedelta(days=2)
    if cycle == SettlementCycle.WEEKLY:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=6)
        return start, end, end + timedelta(days=1)
    raise ValueError(f"Unknown cycle {cycle!r}.")


def windows_sync() -> None:
    """Make the windows of every cycle from the first closed day through today, and close
    those whose days have all closed."""
    closed = DayClose.objects.filter(status=DayClose.Status.CLOSED).aggregate(
        first=Min("day"), last=Max("day")
    )
    first, last_closed = closed["first"], closed["last"]
    if first is None:
        return
    now_day = today()
    missing = []
    for cycle in SettlementCycle.values:
        latest = SettlementWindow.objects.filter(cycle=cycle).order_by("-end_day").first()
        day = latest.end_day + timedelta(days=1) if latest else first
        while day <= now_day:
            start, end, settle_on = window_bounds(cycle, day)
            missing.append(
                SettlementWindow(cycle=cycle, start_day=start, end_day=end, settle_on=settle_on)
            )
            day = end + timedelta(days=1)
    # Concurrent syncs make the same rows: the unique (cycle, start_day) keeps one.
    SettlementWindow.objects.bulk_create(missing, ignore_conflicts=True, batch_size=500)
    SettlementWindow.objects.filter(
        status=SettlementWindow.Status.OPEN, end_day__lte=last_closed
    ).update(status=SettlementWindow.Status.CLOSED, closed_at=timezone.now())


def node_cycles() -> dict[UUID, str]:
    return dict(SettlementContract.objects.values_list("node_id", "cycle"))


def cycle_of(node_id: UUID, cycles: dict[UUID, str]) -> str:
    return cycles.get(node_id, SettlementCycle.DAILY)


# --- Obligations of a window -------------------------------------------------------------------


def inter_node_legs(start: date, end: date) -> dict[int, list[tuple[str, str, int]]]:
    """Per inter-node transaction of days ``start``..``end``: its legs on node wallets."""
    begin, _ = day_bounds(start)
    _, finish = day_bounds(end)
    rows = (
        Entry.objects.filter(
            transaction__is_inter_node=True,
            transaction__posted_at__gte=begin,
            transaction__posted_at__lt=finish,
            account__wallet__isnull=False,
        )
        .order_by("transaction_id", "id")
        .values_list("transaction_id", "account__wallet__node_id", "currency", "amount")
    )
    legs: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for txn_id, node_id, currency, amount in rows.iterator(chunk_size=5000):
        legs[txn_id].append((str(node_id), currency, amount))
    return legs


@dataclass
class WindowNetting:
    window: SettlementWindow
    nodes: set[str]  # the nodes on the window's cycle that took part
    obligations: list[netting.Obligation]
    positions: netting.Positions
    transactions: int

    def node_rows(self) -> list[dict]:
        rows = []
        for node in sorted(self.nodes):
            for currency in sorted({c for n, c in self.positions.multilateral if n == node}):
                key = (node, currency)
                rows.append(
                    {
                        "node": node,
                        "currency": currency,
                        "gross_paid": self.positions.gross_paid.get(key, 0),
                        "gross_received": self.positions.gross_received.get(key, 0),
                        "net": self.positions.multilateral[key],
                    }
                )
        return rows


def compute_window(window: SettlementWindow) -> WindowNetting:
    cycles = node_cycles()
    obligations: list[netting.Obligation] = []
    count = 0
    for legs in inter_node_legs(window.start_day, window.end_day).values():
        found = [
            o
            for o in netting.obligations_from_legs(legs)
            if cycle_of(UUID(o.payer), cycles) == window.cycle
            or cycle_of(UUID(o.payee), cycles) == window.cycle
        ]
        if found:
            count += 1
            obligations.extend(found)
    positions = netting.net(obligations)
    nodes = {n for n in positions.nodes() if cycle_of(UUID(n), cycles) == window.cycle}
    return WindowNetting(window, nodes, obligations, positions, count)


# --- Settling ------------------------------------------------------------------------------------


def node_bank(node_id: str, currency: str) -> str:
    """The bank holding the node's account in ``currency`` (its oldest open one)."""
    code = (
        Account.objects.filter(wallet__node_id=node_id, currency=currency)
        .order_by("created_at")
        .values_list("bank_code", flat=True)
        .first()
    )
    return code or DEFAULT_BANK_CODE


def _check_anchored(window: SettlementWindow) -> None:
    day = window.start_day
    while day <= window.end_day:
        close = DayClose.objects.filter(day=day, status=DayClose.Status.CLOSED).first()
        if close is None:
            raise SettlementError(f"{day} is not closed; window {window} cannot settle.")
        report = Report()
        verify_day(close, report)
        if not report.ok:
            raise SettlementError(
                f"{day} no longer matches its anchor ({report.problems[0]}); not settling."
            )
        day += timedelta(days=1)


def settle_window(window_id: int, *, job: Job | None = None) -> str:
    """Settle one CLOSED window: "settled", or "skipped" if it is not CLOSED (anymore)."""
    with transaction.atomic():
        window = SettlementWindow.objects.select_for_update().get(pk=window_id)
        if window.status != SettlementWindow.Status.CLOSED:
            return "skipped"
        earlier = SettlementWindow.objects.filter(
            cycle=window.cycle,
            start_day__lt=window.start_day,
            status__in=[SettlementWindow.Status.OPEN, SettlementWindow.Status.CLOSED],
        )
        if earlier.exists():
            raise SettlementError(f"An earlier {window.cycle} window must settle first.")
        _check_anchored(window)
        result = compute_window(window)
        postings, planned = [], []
        for row in result.node_rows():
            SettlementPosition.objects.create(
                window=window,
                node_id=row["node"],
                currency=row["currency"],
                gross_paid=row["gross_paid"],
                gross_received=row["gross_received"],
                net=row["net"],
            )
            if row["net"] == 0:
                continue
            currency, amount = row["currency"], abs(row["net"])
            bank = node_bank(row["node"], currency)
            bank_account = wallet_services.platform_account(
                purpose=Account.Purpose.SETTLEMENT, currency=currency, bank_code=bank
            )
            hub = wallet_services.platform_account(purpose=HUB_PURPOSE, currency=currency)
            pays = row["net"] < 0
            legs = (
                [Leg(bank_account.pk, -amount, currency), Leg(hub.pk, amount, currency)]
                if pays
                else [Leg(hub.pk, -amount, currency), Leg(bank_account.pk, amount, currency)]
            )
            postings.append(
                Posting(
                    kind="settlement",
                    legs=legs,
                    memo=(
                        f"Settlement {window.cycle} {window.start_day}..{window.end_day}: node "
                        f"{row['node']} {'pays' if pays else 'receives'} "
                        f"{to_decimal_string(amount, currency)} {currency} via bank {bank}"
                    ),
                    metadata={"settlement_window": window.pk, "node": row["node"]},
                )
            )
            planned.append((row["node"], currency, pays, amount, bank))
        results = post(postings, mode="atomic") if postings else []
        for (node, currency, pays, amount, bank), posted in zip(planned, results, strict=True):
            if posted.transaction is None:  # an atomic batch either posts or raises
                raise SettlementError(f"Window {window}'s settlement posted nothing.")
            SettlementInstruction.objects.create(
                window=window,
                node_id=node,
                currency=currency,
                direction=(
                    SettlementInstruction.Direction.PAY
                    if pays
                    else SettlementInstruction.Direction.RECEIVE
                ),
                amount=amount,
                bank_code=bank,
                transaction=posted.transaction,
            )
        updated = SettlementWindow.objects.filter(
            pk=window.pk, status=SettlementWindow.Status.CLOSED
        ).update(
            status=SettlementWindow.Status.SETTLED,
            settled_at=timezone.now(),
            transactions=result.transactions,
            job=job,
        )
        if updated != 1:  # cannot happen under the lock; a backstop
            raise SettlementError(f"Window {window} changed while settling.")
    return "settled"


def settle_due(*, job: Job | None = None) -> dict[str, int]:
    """Settle every CLOSED window whose day has come, oldest first per cycle; a failure
    stops its cycle (so no window is settled ahead of an earlier one)."""
    windows_sync()
    due = list(
        SettlementWindow.objects.filter(
            status=SettlementWindow.Status.CLOSED, settle_on__lte=today()
        ).order_by("cycle", "start_day")
    )
    if job is not None:
        job_start(job, total=len(due))
    counts = {"settled": 0, "skipped": 0}
    failed_cycles: set[str] = set()
    errors = []
    for done, window in enumerate(due, start=1):
        if window.cycle in failed_cycles:
            continue
        try:
            counts[settle_window(window.pk, job=job)] += 1
        except ApplicationError as exc:
            failed_cycles.add(window.cycle)
            errors.append(f"{window}: {exc.message}")
        if job is not None:
            job_progress(job, done)
    if job is not None:
        job_finish(
            job,
            error="\n".join(errors),
            count=counts["settled"],
            note=f"{counts['settled']} window(s) settled, {counts['skipped']} already settled.",
        )
    return counts


def settle_due_now(*, triggered_by: str) -> Job:
    job = job_create(kind=Job.Kind.SETTLEMENT, label="due windows", triggered_by=triggered_by)
    settle_due(job=job)
    job.refresh_from_db()
    return job


@transaction.atomic
def window_abort(*, window: SettlementWindow, reason: str, actor: Actor) -> SettlementWindow:
    updated = SettlementWindow.objects.filter(
        pk=window.pk, status__in=[SettlementWindow.Status.OPEN, SettlementWindow.Status.CLOSED]
    ).update(status=SettlementWindow.Status.ABORTED, note=reason[:300])
    if updated != 1:
        raise SettlementError("Only open or closed windows can be aborted.", status_code=409)
    window.refresh_from_db()
    audit_record(
        actor=actor,
        action="clearing.window_aborted",
        tenant=None,
        target=window,
        data={"cycle": window.cycle, "start_day": window.start_day.isoformat(), "reason": reason},
    )
    return window


@transaction.atomic
def contract_set(*, node: Node, cycle: str, caps: dict[str, int] | None, actor: Actor) -> None:
    """Set ``node``'s settlement cycle and, unless ``caps`` is None, replace its net debit
    caps (minor units per currency; a currency left out has none). Audited."""
    SettlementContract.objects.update_or_create(node=node, defaults={"cycle": cycle})
    if caps is not None:
        NetDebitCap.objects.filter(node=node).exclude(currency__in=caps).delete()
        for currency, amount in caps.items():
            NetDebitCap.objects.update_or_create(
                node=node, currency=currency, defaults={"amount": amount}
            )
    audit_record(
        actor=actor,
        action="clearing.contract_set",
        tenant=node.tenant,
        target=node,
        data={"cycle": cycle, "net_debit_caps": caps},
    )
