"""Disputes of an escrow: the payer opens one within the dispute window; evidence may be
submitted (for the payee); then the dispute is decided, once:

    opened ──evidence──▶ evidence_submitted
       │                      │
       └──────decide──────────┴──▶ won (by the payer: what is held is refunded)
                                 └▶ lost (what is held is released to the payee, less the fee)

While a dispute is open the parties can neither release nor refund, and the escrow's
timeout does nothing: the decision settles the escrow. Nobody deciding by ``due_by``
(``DECISION_PERIOD`` after opening, the payer node's time) decides it by rule: a dispute
the payee never answered (still ``opened``) is won by the payer; an answered one is lost.

Lock order: the escrow row first (``escrows.lock``), then the dispute row, then the
ledger's. The state is checked under the locks and changed by a conditional UPDATE.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from sandbox.errors import ApplicationError, Conflict, NotFound
from sandbox.events import scheduling
from sandbox.tenants.services import Actor
from wallets.escrow import escrows, presenters
from wallets.escrow.models import Escrow, EscrowDispute
from wallets.locking import retrying

DEADLINE = "escrow.dispute_deadline"  # the scheduled action of the deadline rule
DECISION_PERIOD = timedelta(days=14)
MAX_REASON = 500
MAX_EVIDENCE = 5000

OPENED = "escrow_dispute.opened"
EVIDENCE_SUBMITTED = "escrow_dispute.evidence_submitted"
WON = "escrow_dispute.won"
LOST = "escrow_dispute.lost"
OUTCOMES = {"won": EscrowDispute.Status.WON, "lost": EscrowDispute.Status.LOST}


def _deadline_key(dispute: EscrowDispute) -> str:
    return f"escrow_dispute:{dispute.pk}:deadline"


def _record(
    escrow: Escrow,
    dispute: EscrowDispute,
    type: str,
    actor: Actor | None,
    audit_action: str | None = None,
) -> None:
    escrows.record(
        escrow,
        type,
        actor=actor,
        obj=dispute,
        data=presenters.dispute_json(dispute),
        audit_action=audit_action,
    )


def _locked_escrow(escrow_id: UUID | str) -> Escrow:
    escrow = escrows.lock(escrow_id)
    if escrow is None:
        raise NotFound(f"No escrow with id {escrow_id}.", code="escrow_not_found")
    return escrow


def _locked_dispute(dispute: EscrowDispute) -> tuple[Escrow, EscrowDispute]:
    escrow = _locked_escrow(dispute.escrow_id)
    return escrow, EscrowDispute.objects.select_for_update().get(pk=dispute.pk)


def _change(dispute: EscrowDispute, expected: str, **changes: object) -> None:
    updated = EscrowDispute.objects.filter(pk=dispute.pk, status=expected).update(**changes)
    if updated != 1:
        raise Conflict("The dispute changed meanwhile; try again.", code="dispute_changed")
    for name, value in changes.items():
        setattr(dispute, name, value)


@retrying
def dispute_open(*, escrow: Escrow, actor: Actor, reason: str) -> EscrowDispute:
    """The payer disputes the escrow: what remains stays held until the decision."""
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ApplicationError(
            "Give a reason of 1 to 500 characters.",
            code="invalid_reason",
            fields={"reason": ["1 to 500 characters."]},
        )
    escrow = _locked_escrow(escrow.pk)
    if EscrowDispute.objects.filter(escrow=escrow).exists():
        raise Conflict("This escrow was already disputed.", code="dispute_exists")
    if escrow.status not in (Escrow.Status.HELD, Escrow.Status.PARTIALLY_RELEASED):
        raise Conflict(
            f"Only money still held can be disputed; this escrow is {escrow.status}.",
            code="escrow_closed",
        )
    now = escrows.node_now(escrow)
    if now >= escrow.dispute_window_ends_at:
        raise Conflict("The dispute window has closed.", code="dispute_window_closed")
    dispute = EscrowDispute.objects.create(
        tenant_id=escrow.tenant_id,
        escrow=escrow,
        reason=reason,
        opened_at=now,
        due_by=now + DECISION_PERIOD,
    )
    updated = Escrow.objects.filter(pk=escrow.pk, status=escrow.status).update(
        status=Escrow.Status.DISPUTED
    )
    if updated != 1:
        raise Conflict("The escrow changed meanwhile; try again.", code="escrow_changed")
    escrow.status = Escrow.Status.DISPUTED
    scheduling.schedule(
        kind=DEADLINE,
        node=escrow.payer_node,
        due_at=dispute.due_by,
        payload={"dispute": str(dispute.pk)},
        key=_deadline_key(dispute),
    )
    _record(escrow, dispute, OPENED, actor)
    return dispute


@retrying
def dispute_submit_evidence(
    *, dispute: EscrowDispute, actor: Actor, evidence: str, audit_action: str | None = None
) -> EscrowDispute:
    """The payee's answer to the dispute, once. ``audit_action`` names it in the audit log
    (a test helper's ``test_helper.…``); the event type by default."""
    evidence = (evidence or "").strip()
    if not evidence or len(evidence) > MAX_EVIDENCE:
        raise ApplicationError(
            "Give evidence of 1 to 5000 characters.",
            code="invalid_evidence",
            fields={"evidence": ["1 to 5000 characters."]},
        )
    escrow, dispute = _locked_dispute(dispute)
    if dispute.status != EscrowDispute.Status.OPENED:
        raise Conflict(
            f"Evidence goes with an opened dispute; this one is {dispute.status}.",
            code="dispute_not_opened",
        )
    _change(
        dispute,
        EscrowDispute.Status.OPENED,
        status=EscrowDispute.Status.EVIDENCE_SUBMITTED,
        evidence=evidence,
        evidence_submitted_at=escrows.node_now(escrow),
    )
    _record(escrow, dispute, EVIDENCE_SUBMITTED, actor, audit_action)
    return dispute


@retrying
def dispute_decide(
    *,
    dispute: EscrowDispute,
    outcome: str,
    actor: Actor | None,
    decided_by: str,
    audit_action: str | None = None,
) -> EscrowDispute:
    """Decide the dispute, once: ``won`` refunds what is held to the payer, ``lost``
    releases it to the payee (less the fee)."""
    if outcome not in OUTCOMES:
        raise ApplicationError(
            f"Unknown outcome {outcome!r}; use won or lost.",
            code="invalid_outcome",
            fields={"outcome": ["won or lost."]},
        )
    escrow, dispute = _locked_dispute(dispute)
    if not dispute.is_open:
        raise Conflict(f"This dispute was already {dispute.status}.", code="dispute_decided")
    previous = dispute.status
    remaining = escrow.remaining_amount
    cause = Escrow.Resolution.DISPUTE
    if outcome == "won":
        escrow = escrows.settle(escrow, release=0, refund=remaining, cause=cause)
    else:
        escrow = escrows.settle(escrow, release=remaining, refund=0, cause=cause)
    _change(
        dispute,
        previous,
        status=OUTCOMES[outcome],
        decided_at=escrows.node_now(escrow),
        decided_by=decided_by[:200],
    )
    scheduling.cancel(kind=DEADLINE, key=_deadline_key(dispute))
    _record(escrow, dispute, WON if outcome == "won" else LOST, actor, audit_action)
    escrows.record(escrow, escrows.REFUNDED if outcome == "won" else escrows.RELEASED)
    return dispute


def _rule_outcome(dispute: EscrowDispute) -> str:
    return "won" if dispute.status == EscrowDispute.Status.OPENED else "lost"


@retrying
def dispute_decide_by_rule(
    *,
    dispute: EscrowDispute,
    actor: Actor | None,
    decided_by: str,
    audit_action: str | None = None,
) -> EscrowDispute:
    """Decide now as the deadline rule would: unanswered (opened) → won by the payer;
    answered (evidence submitted) → lost."""
    _, dispute = _locked_dispute(dispute)
    if not dispute.is_open:
        raise Conflict(f"This dispute was already {dispute.status}.", code="dispute_decided")
    return dispute_decide(
        dispute=dispute,
        outcome=_rule_outcome(dispute),
        actor=actor,
        decided_by=decided_by,
        audit_action=audit_action,
    )


# The test helper's decisions (API and dashboard): for the payer, for the payee, or now as
# the deadline rule would.
TEST_HELPER_OUTCOMES = {"win": "won", "lose": "lost", "deadline": None}


def dispute_decide_as_test_helper(
    *, dispute: EscrowDispute, action: str, actor: Actor
) -> EscrowDispute:
    """Decide the dispute as a test helper's ``action`` (a key of ``TEST_HELPER_OUTCOMES``),
    in the helper's name (``decided_by``) and in the test helper's audit log."""
    decided_by = f"test_helper:{actor.label}"
    audit_action = f"test_helper.escrow_dispute_{action}"
    outcome = TEST_HELPER_OUTCOMES[action]
    if outcome is None:
        return dispute_decide_by_rule(
            dispute=dispute, actor=actor, decided_by=decided_by, audit_action=audit_action
        )
    return dispute_decide(
        dispute=dispute,
        outcome=outcome,
        actor=actor,
        decided_by=decided_by,
        audit_action=audit_action,
    )


@retrying
def dispute_deadline(*, dispute_id: UUID | str) -> bool:
    """The deadline rule, once the payer node's time has reached ``due_by``. False when
    there is nothing to do (decided already, or not due). Safe to run twice."""
    dispute = EscrowDispute.objects.filter(pk=dispute_id).first()
    if dispute is None:
        return False
    escrow, dispute = _locked_dispute(dispute)
    if not dispute.is_open or escrows.node_now(escrow) < dispute.due_by:
        return False
    dispute_decide(
        dispute=dispute, outcome=_rule_outcome(dispute), actor=None, decided_by="deadline"
    )
    return True
