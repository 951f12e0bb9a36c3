"""Writes: compute credit standings and history attestations for a batch of subjects as of
one moment, keep them (one row per computation), tell webhooks when a score changed, and
make a qualifying unverified identity ``secondary``.

Three callers: the daily job (``standings_compute_daily``, beat at 05:00 Asia/Seoul, for
subjects on the platform clock), a test clock crossing midnights (``standings_compute_
clock_days``: each day of the clock's nodes as of its midnight), and the API's recompute
(``standing_recompute``: one subject, now on its clock). The ledger is read with two
aggregate queries per batch (``wallets.credit.history``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery

from sandbox import clock
from sandbox.events.models import ClockAttachment
from sandbox.events.services import NewEvent, events_record
from sandbox.identities import services as identities
from sandbox.identities.models import NodeIdentity, Person, VerificationLevel
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor, audit_record
from wallets.credit import attestations, history, presenters, scoring
from wallets.credit.models import CreditStanding, HistoryAttestation

logger = logging.getLogger(__name__)

TIME_ZONE = ZoneInfo("Asia/Seoul")  # a subject's day, as the daily beat entry counts it
BATCH = 500
EVENT_TYPE = "credit.standing.updated"
SECONDARY_REASON = "history attestations: account age, regular income, no returns"


def day_of(moment: datetime) -> date:
    return moment.astimezone(TIME_ZONE).date()


@dataclass
class _Subject:
    tenant_id: Any
    event_node_id: Any  # the node whose webhooks hear about it (a person's serving node)
    level: str
    person: Person | None = None
    node: Node | None = None
    identity: Person | NodeIdentity | None = None  # what set_verification_level moves
    previous_score: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        if self.person is not None:
            return (self.person.tenant_id, self.person.customer_reference)
        assert self.node is not None
        return (self.node.pk,)


def _people_subjects(people: Sequence[Person]) -> list[_Subject]:
    previous = dict(
        Person.objects.filter(pk__in=[p.pk for p in people])
        .annotate(score=_latest_score("person"))
        .values_list("pk", "score")
    )
    return [
        _Subject(
            tenant_id=p.tenant_id,
            event_node_id=p.node_id,
            level=p.verification_level,
            person=p,
            identity=p,
            previous_score=previous.get(p.pk),
        )
        for p in people
    ]


def _node_subjects(nodes: Sequence[Node]) -> list[_Subject]:
    ids = [n.pk for n in nodes]
    identities_by_node = {i.node_id: i for i in NodeIdentity.objects.filter(node_id__in=ids)}
    previous = dict(
        Node.objects.filter(pk__in=ids)
        .annotate(score=_latest_score("node"))
        .values_list("pk", "score")
    )
    subjects = []
    for n in nodes:
        identity = identities_by_node.get(n.pk)
        level = identity.verification_level if identity else VerificationLevel.UNVERIFIED
        subjects.append(
            _Subject(
                tenant_id=n.tenant_id,
                event_node_id=n.pk,
                level=level,
                node=n,
                identity=identity,
                previous_score=previous.get(n.pk),
            )
        )
    return subjects


def _latest_score(field: str) -> Subquery:
    latest = CreditStanding.objects.filter(**{field: OuterRef("pk")}).order_by(
        "-as_of", "-created_at"
    )
    return Subquery(latest.values("score")[:1])


def _metrics(subjects: Sequence[_Subject], as_of: datetime) -> dict[tuple[Any, ...], Any]:
    people = [(s.person.tenant_id, s.person.customer_reference) for s in subjects if s.person]
    nodes = [s.node.pk for s in subjects if s.node is not None]
    found: dict[tuple[Any, ...], Any] = {}
    if people:
        found.update(
            history.ledger_metrics(history.BY_PERSON, history.person_accounts_filter(people), as_of)
        )
    if nodes:
        found.update(
            history.ledger_metrics(history.BY_NODE, history.node_accounts_filter(nodes), as_of)
        )
    return found


def _compute(
    subjects: Sequence[_Subject], *, as_of: datetime, trigger: str
) -> list[CreditStanding]:
    """Compute and keep one standing per subject as of ``as_of``, in one database
    transaction: the standings, their attestations, the events of changed scores, and the
    secondary identities they earn."""
    if not subjects:
        return []
    as_of = as_of.astimezone(UTC)  # as the database answers it: one shape for every reader
    day = day_of(as_of)
    if trigger == CreditStanding.Trigger.DAILY:
        subjects = _not_yet_computed(subjects, day)
    metrics = _metrics(subjects, as_of)
    standings: list[CreditStanding] = []
    claims: list[HistoryAttestation] = []
    upgrades: list[_Subject] = []
    events: list[NewEvent] = []
    for subject in subjects:
        found = metrics.get(subject.key) if _has_reference(subject) else None
        figures = found or scoring.Metrics()
        found_claims = attestations.claims(figures, as_of)
        level = subject.level
        if (
            subject.identity is not None
            and level == VerificationLevel.UNVERIFIED
            and attestations.qualifies_for_secondary({c.kind for c in found_claims})
        ):
            # The identity the attestations earn counts in this very computation.
            level = VerificationLevel.SECONDARY
            upgrades.append(subject)
        result = scoring.standing(figures, level)
        standing = CreditStanding(
            tenant_id=subject.tenant_id,
            person=subject.person,
            node=subject.node,
            score=result.score,
            reason_codes=result.reason_codes,
            verification_level=level,
            metrics=_metrics_json(figures),
            points=asdict(result.points),
            trigger=trigger,
            day=day,
            as_of=as_of,
        )
        standings.append(standing)
        claims.extend(
            HistoryAttestation(
                tenant_id=subject.tenant_id,
                standing=standing,
                person=subject.person,
                node=subject.node,
                kind=claim.kind,
                statement=claim.statement,
                value=claim.value,
                window_start=claim.window_start,
                window_end=claim.window_end,
                evidence=claim.evidence,
                issued_at=as_of,
            )
            for claim in found_claims
        )
    with transaction.atomic():
        CreditStanding.objects.bulk_create(standings)
        HistoryAttestation.objects.bulk_create(claims)
        for subject, standing in zip(subjects, standings, strict=True):
            # A change of score, not a first one: a subject's first standing is news to
            # nobody's integration (a test clock's first midnight would tell every node).
            if subject.previous_score not in (None, standing.score):
                events.append(
                    NewEvent(
                        node_id=subject.event_node_id,
                        tenant_id=subject.tenant_id,
                        type=EVENT_TYPE,
                        obj=standing,
                        data=presenters.standing_json(standing),
                        occurred_at=as_of,
                    )
                )
        events_record(events)
        for subject in upgrades:
            assert subject.identity is not None
            try:
                identities.set_verification_level(
                    subject.identity, VerificationLevel.SECONDARY, reason=SECONDARY_REASON
                )
            except identities.PersonRedacted:
                continue  # erased since the batch was read: nothing about them changes
    return standings


def _has_reference(subject: _Subject) -> bool:
    return subject.person is None or bool(subject.person.customer_reference)


def _metrics_json(figures: scoring.Metrics) -> dict[str, Any]:
    return {
        "account_count": figures.account_count,
        "account_age_days": figures.account_age_days,
        "monthly_credits": list(figures.monthly_credits),
        "months_with_income": figures.months_with_income,
        "returns_180d": figures.returns_180d,
        "currencies": [asdict(c) for c in figures.currencies],
    }


def _not_yet_computed(subjects: Sequence[_Subject], day: date) -> list[_Subject]:
    people = [s.person.pk for s in subjects if s.person is not None]
    nodes = [s.node.pk for s in subjects if s.node is not None]
    done_people = set(
        CreditStanding.objects.filter(
            trigger=CreditStanding.Trigger.DAILY, day=day, person_id__in=people
        ).values_list("person_id", flat=True)
    )
    done_nodes = set(
        CreditStanding.objects.filter(
            trigger=CreditStanding.Trigger.DAILY, day=day, node_id__in=nodes
        ).values_list("node_id", flat=True)
    )
    return [
        s
        for s in subjects
        if (s.person is not None and s.person.pk not in done_people)
        or (s.node is not None and s.node.pk not in done_nodes)
    ]


def _batches(queryset: QuerySet[Any]) -> Iterator[list[Any]]:
    """``queryset`` in batches of ``BATCH``, by primary key (a keyset, no OFFSET)."""
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = list(page[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def _compute_batches(
    people: QuerySet[Person], nodes: QuerySet[Node], *, as_of: datetime, trigger: str
) -> int:
    count = 0
    for batch in _batches(nodes):
        count += _compute_safely(_node_subjects(batch), as_of=as_of, trigger=trigger)
    for batch in _batches(people):
        count += _compute_safely(_people_subjects(batch), as_of=as_of, trigger=trigger)
    return count


def _compute_safely(subjects: list[_Subject], *, as_of: datetime, trigger: str) -> int:
    try:
        return len(_compute(subjects, as_of=as_of, trigger=trigger))
    except IntegrityError:
        # Another run computed some of this day first (the unique daily constraint): the
        # batch rolled back whole; what is left is computed by the run that got there.
        logger.warning("Credit standings of %s: a concurrent run got there first", as_of)
        return 0


def _active_people() -> QuerySet[Person]:
    return Person.objects.filter(status=Person.Status.ACTIVE).select_related("node")


def _active_nodes() -> QuerySet[Node]:
    return Node.objects.filter(is_active=True)


def standings_compute_daily() -> int:
    """The daily job: every active node and person on the platform clock, as of now.
    Subjects on a test clock get their days when the clock crosses midnights. Safe to run
    twice a day: a subject's day is computed once."""
    on_clocks = ClockAttachment.objects.values("node_id")
    as_of = clock.now()
    people = _active_people().exclude(node_id__in=on_clocks)
    nodes = _active_nodes().exclude(pk__in=on_clocks)
    return _compute_batches(people, nodes, as_of=as_of, trigger=CreditStanding.Trigger.DAILY)


def midnights_between(start: datetime, end: datetime) -> list[datetime]:
    """The midnights (Asia/Seoul) in ``(start, end]``."""
    found: list[datetime] = []
    day = day_of(start) + timedelta(days=1)
    while True:
        midnight = datetime.combine(day, time.min, tzinfo=TIME_ZONE)
        if midnight > end:
            return found
        found.append(midnight)
        day += timedelta(days=1)


def standings_compute_clock_days(*, clock_id: Any, start: datetime, end: datetime) -> int:
    """A test clock moves from ``start`` to ``end``: each day it enters is computed as of
    its midnight for the clock's nodes and the people they serve."""
    nodes = _active_nodes().filter(clock_attachment__clock_id=clock_id)
    people = _active_people().filter(node__clock_attachment__clock_id=clock_id)
    count = 0
    for midnight in midnights_between(start, end):
        count += _compute_batches(
            people, nodes, as_of=midnight, trigger=CreditStanding.Trigger.DAILY
        )
    return count


def standing_recompute(
    *, actor: Actor, person: Person | None = None, node: Node | None = None
) -> CreditStanding:
    """Compute one subject's standing now (its node's clock), on demand."""
    if person is not None:
        if person.is_redacted:
            raise identities.PersonRedacted(person)
        subjects = _people_subjects([person])
        node_id = person.node_id
    else:
        assert node is not None
        subjects = _node_subjects([node])
        node_id = node.pk
    with transaction.atomic():
        (standing,) = _compute(
            subjects, as_of=clock.now(node_id=node_id), trigger=CreditStanding.Trigger.ON_DEMAND
        )
        audit_record(
            actor=actor,
            action="credit_standing.recomputed",
            tenant=standing.tenant,
            target=standing,
            data={"score": standing.score},
        )
    return standing
