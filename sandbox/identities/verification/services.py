"""Writes of verification sessions: create, submit input, process (asynchronously, on the
node's clock), force an outcome (test helper), review (operators), cancel, redact.

Every change of state goes through ``_move``: the transition row, the event
``identity.verification_session.<state>`` (its data the presenter's, so webhooks carry what
the API shows) and the state's fields, in the caller's transaction. A session row is
locked before it changes (``_lock``), so a forced outcome and the processing job cannot
both apply. What people and API keys do (not the platform's own processing) is in the
audit log too, one entry per call (``_audit``): who, from where, the session's type and
state, never what was submitted.

Levels (docs/identities.md): a verified ``document`` session (the document and the
national id it carries) or ``bank_account`` session (the real name at a bank) makes the
person ``real_name``; a verified ``id_number`` or ``phone`` session makes them
``secondary``. A session never lowers a person's level."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction

from sandbox.clock import now as clock_now
from sandbox.errors import ApplicationError, Conflict
from sandbox.events import scheduling
from sandbox.identities.matching import score_phone
from sandbox.identities.models import Person, VerificationLevel
from sandbox.identities.services import reveal, set_verification_level
from sandbox.identities.verification import events, inputs, magic, presenters
from sandbox.identities.verification.magic import Outcome
from sandbox.identities.verification.models import (
    TRANSITIONS,
    SessionStatus,
    SessionTransition,
    SessionType,
    VerificationSession,
)
from sandbox.identities.verification.registry import match_account_holder
from sandbox.tenants.models import Tenant
from sandbox.tenants.services import Actor, audit_record

PROCESS_KIND = "identity_verification.process"
# How long the simulated checks take, on the node's clock (advance a test clock past it).
PROCESSING_DELAY = timedelta(seconds=10)
PLATFORM_ACTOR = "platform:kyc"
PHONE_SAME = 100  # score_phone's answer for the same number

LEVEL_BY_TYPE = {
    SessionType.DOCUMENT: VerificationLevel.REAL_NAME,
    SessionType.BANK_ACCOUNT: VerificationLevel.REAL_NAME,
    SessionType.ID_NUMBER: VerificationLevel.SECONDARY,
    SessionType.PHONE: VerificationLevel.SECONDARY,
}
DOCUMENT_TYPES = ("id_card", "driver_license", "passport")
DOCUMENT_NUMBER = re.compile(r"^[A-Z0-9-]{1,32}$")
BANK_CODE = re.compile(r"^[0-9]{3,11}$")  # KFTC, Zengin or ABA codes
ACCOUNT_NUMBER = re.compile(r"^[0-9][0-9 -]{4,24}[0-9]$")
# The input each type takes (any other key is refused: it would be ignored otherwise).
FIELDS_BY_TYPE: dict[str, frozenset[str]] = {
    SessionType.ID_NUMBER: frozenset({"national_id", "national_id_country"}),
    SessionType.PHONE: frozenset({"phone", "code"}),
    SessionType.DOCUMENT: frozenset(
        {
            "document_type",
            "document_number",
            "birth_date",
            "expiry_date",
            "national_id",
            "national_id_country",
        }
    ),
    SessionType.BANK_ACCOUNT: frozenset({"bank_code", "account_number"}),
}


def _person_usable(person: Person) -> None:
    if person.status == Person.Status.REDACTED:
        raise ApplicationError(
            "This person's data was erased: nothing can be verified.",
            code="person_redacted",
            status_code=410,
        )


def _lock(session: VerificationSession) -> VerificationSession:
    return VerificationSession.objects.select_for_update().get(pk=session.pk)


def _audit(actor: Actor, action: str, session: VerificationSession, **data: Any) -> None:
    audit_record(
        actor=actor,
        action=action,
        tenant=session.tenant,
        target=session,
        data={"type": session.type, "status": session.status, **data},
    )


def _move(
    session: VerificationSession,
    to: str,
    *,
    actor: str,
    now: datetime,
    error: Outcome | None = None,
    event: str | None = None,
) -> None:
    """Save the session in state ``to`` (the caller set the state's other fields), with its
    transition row and event."""
    from_status = session.status if session._state.adding is False else ""
    if from_status and to not in TRANSITIONS[from_status]:
        raise Conflict(
            f"A session that is {from_status} cannot become {to}.",
            code="session_invalid_transition",
        )
    session.status = to
    if to == SessionStatus.REQUIRES_INPUT and error is not None:
        session.last_error_code, session.last_error_reason = error.error_code, error.reason
    elif to != SessionStatus.CANCELED:
        session.last_error_code = session.last_error_reason = ""
    if to == SessionStatus.REQUIRES_REVIEW:
        assert error is not None
        session.review_reason = error.error_code
    else:
        session.review_reason = ""
    session.save()
    SessionTransition.objects.create(
        session=session,
        from_status=from_status,
        to_status=to,
        error_code=error.error_code if error is not None else "",
        actor=actor[:200],
        at=now,
    )
    events.record(
        tenant_id=session.tenant_id,
        node_id=session.node_id,
        type=f"identity.verification_session.{event or to}",
        obj=session,
        data=presenters.session_json(session),
        occurred_at=now,
    )


@transaction.atomic
def session_create(
    *, tenant: Tenant, person: Person, type: str, actor: Actor
) -> VerificationSession:
    if type not in SessionType.values:
        raise ApplicationError(
            f"Unknown session type {type!r}; known: {', '.join(SessionType.values)}.",
            code="invalid_session_type",
            fields={"type": [f"One of {', '.join(SessionType.values)}."]},
        )
    if person.tenant_id != tenant.pk:
        raise ApplicationError("No person with this id.", code="person_not_found", status_code=404)
    _person_usable(person)
    now = clock_now(node_id=person.node_id)
    session = VerificationSession(
        tenant=tenant, person=person, node_id=person.node_id, type=type, created_at=now
    )
    _move(session, SessionStatus.REQUIRES_INPUT, actor=actor.label, now=now, event="created")
    _audit(actor, "verification_session.created", session)
    return session


def _fields_for(session: VerificationSession, values: dict[str, Any]) -> dict[str, Any]:
    given = {name: value for name, value in values.items() if value not in (None, "")}
    extra = sorted(set(given) - FIELDS_BY_TYPE[session.type])
    if extra:
        raise ApplicationError(
            f"A {session.type} session does not take: {', '.join(extra)}.",
            code="field_not_for_session_type",
            fields={name: [f"Not an input of a {session.type} session."] for name in extra},
        )
    return given


def _required(values: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if name not in values]
    if missing:
        raise ApplicationError(
            f"Missing: {', '.join(missing)}.",
            code="missing_field",
            fields={name: ["Required."] for name in missing},
        )


def _matching(pattern: re.Pattern[str], values: dict[str, Any], field: str, rule: str) -> str:
    value = str(values[field]).strip()
    if not pattern.match(value):
        raise ApplicationError(
            f"{field}: {rule}.", code=f"invalid_{field}", fields={field: [rule.capitalize()]}
        )
    return value


def _clean_document(values: dict[str, Any], today: date) -> dict[str, Any]:
    _required(values, "document_type", "document_number", "birth_date", "expiry_date")
    _required(values, "national_id")
    if values["document_type"] not in DOCUMENT_TYPES:
        raise ApplicationError(
            f"document_type is one of {', '.join(DOCUMENT_TYPES)}.",
            code="invalid_document_type",
            fields={"document_type": [f"One of {', '.join(DOCUMENT_TYPES)}."]},
        )
    number = str(values["document_number"]).strip().upper()
    if not DOCUMENT_NUMBER.match(number):
        raise ApplicationError(
            "document_number has 1 to 32 letters, digits or dashes.",
            code="invalid_document_number",
            fields={"document_number": ["1 to 32 letters, digits or dashes."]},
        )
    birth = inputs.date_clean(values["birth_date"], field="birth_date", today=today, past=True)
    expiry = inputs.date_clean(values["expiry_date"], field="expiry_date", today=today, past=False)
    national_id, country = inputs.national_id_clean(
        values["national_id"], values.get("national_id_country", "KR")
    )
    return {
        "document_type": values["document_type"],
        "document_number": number,
        "birth_date": birth.isoformat(),
        "expiry_date": expiry.isoformat(),
        "national_id": national_id,
        "national_id_country": country,
    }


@transaction.atomic
def session_submit(
    *, session: VerificationSession, values: dict[str, Any], actor: Actor
) -> VerificationSession:
    """Take the input of a session that requires it; all of it checked before anything
    changes. The checks then run asynchronously (``processing``), except a phone session's
    first step, which only sends the code."""
    session = _lock(session)
    if session.status != SessionStatus.REQUIRES_INPUT:
        raise Conflict(
            f"This session is {session.status}: it takes no input now.",
            code="session_not_awaiting_input",
        )
    person = Person.objects.get(pk=session.person_id)
    _person_usable(person)
    now = clock_now(node_id=session.node_id)
    given = _fields_for(session, values)
    if session.type == SessionType.ID_NUMBER:
        _required(given, "national_id")
        national_id, country = inputs.national_id_clean(
            given["national_id"], given.get("national_id_country", "KR")
        )
        submitted: dict[str, Any] = {"national_id": national_id, "national_id_country": country}
    elif session.type == SessionType.PHONE:
        if "code" not in given:
            _required(given, "phone")
            session.submitted = {"phone": inputs.phone_clean(given["phone"])}
            # Never the magic code: a tester who types 000000 means the documented one.
            session.phone_code = f"{secrets.randbelow(999_999) + 1:06d}"
            session.save(update_fields=["submitted", "phone_code"])
            _audit(actor, "verification_session.submitted", session)
            return session
        if "phone" in given:
            raise ApplicationError(
                "Send the phone number first, then the code alone.",
                code="field_not_for_session_type",
                fields={"phone": ["Already sent."]},
            )
        if not session.phone_code:
            raise Conflict(
                "No code was sent yet: submit the phone first.", code="phone_code_not_sent"
            )
        submitted = {**session.submitted, "code": inputs.phone_code_clean(given["code"])}
    elif session.type == SessionType.DOCUMENT:
        submitted = _clean_document(given, now.date())
    else:
        _required(given, "bank_code", "account_number")
        submitted = {
            "bank_code": _matching(BANK_CODE, given, "bank_code", "3 to 11 digits (004)"),
            "account_number": _matching(
                ACCOUNT_NUMBER, given, "account_number", "6 to 20 digits, dashes allowed"
            ),
        }
    session.submitted = submitted
    _start_processing(session, actor=actor.label, now=now)
    _audit(actor, "verification_session.submitted", session)
    return session


def _start_processing(session: VerificationSession, *, actor: str, now: datetime) -> None:
    session.attempt += 1
    session.submitted_at = now
    _move(session, SessionStatus.PROCESSING, actor=actor, now=now)
    scheduling.schedule(
        kind=PROCESS_KIND,
        node=session.node,
        tenant=session.tenant if session.node_id is None else None,
        due_at=now + PROCESSING_DELAY,
        payload={"session": str(session.pk), "attempt": session.attempt},
        key=f"{session.pk}:{session.attempt}",
    )


def session_process(*, session_id: Any, attempt: int) -> None:
    """The scheduled checks of one submission (the caller's transaction); safe to run twice:
    a session no longer processing that submission is left alone."""
    session = VerificationSession.objects.select_for_update().filter(pk=session_id).first()
    if session is None or session.status != SessionStatus.PROCESSING or session.attempt != attempt:
        return
    now = clock_now(node_id=session.node_id)
    _apply(session, _evaluate(session, now), actor=PLATFORM_ACTOR, now=now)


def _evaluate(session: VerificationSession, now: datetime) -> Outcome:
    person = Person.objects.get(pk=session.person_id)
    if person.status == Person.Status.REDACTED:
        return magic.PERSON_REDACTED
    submitted = session.submitted
    purpose = f"verification session {session.pk} ({session.type})"
    if session.type == SessionType.BANK_ACCOUNT:
        data = reveal(person, actor=PLATFORM_ACTOR, purpose=purpose, fields=["legal_name"])
        answer = match_account_holder(
            tenant=session.tenant,
            bank_code=submitted["bank_code"],
            account_number=submitted["account_number"],
            claimed_name=data.legal_name,
        )
        if not (answer.found and answer.open):
            return magic.BANK_ACCOUNT_UNKNOWN
        session.name_match_score = max(0, min(100, answer.score))
        if answer.score >= magic.NAME_MATCH_THRESHOLD:
            return magic.VERIFIED
        return magic.NAME_MISMATCH
    if session.type == SessionType.PHONE:
        data = reveal(person, actor=PLATFORM_ACTOR, purpose=purpose, fields=["phone"])
        if score_phone(submitted["phone"], data.phone) < PHONE_SAME:
            return magic.PHONE_MISMATCH
        if submitted["code"] in (session.phone_code, magic.MAGIC_PHONE_CODE):
            return magic.VERIFIED
        return magic.PHONE_CODE_INCORRECT
    if session.type == SessionType.ID_NUMBER:
        data = reveal(
            person,
            actor=PLATFORM_ACTOR,
            purpose=purpose,
            fields=["national_id", "national_id_country"],
        )
        return magic.VERIFIED if _same_national_id(data, submitted) else magic.ID_NUMBER_MISMATCH
    # A document: its magic number first, then the real checks.
    forced = magic.DOCUMENT_NUMBERS.get(submitted["document_number"])
    if forced is not None:
        return forced
    data = reveal(
        person,
        actor=PLATFORM_ACTOR,
        purpose=purpose,
        fields=["birth_date", "national_id", "national_id_country"],
    )
    if not _same_national_id(data, submitted):
        return magic.ID_NUMBER_MISMATCH
    birth = date.fromisoformat(submitted["birth_date"])
    if birth != data.birth_date:
        return magic.DOCUMENT_MISMATCH
    today = now.date()
    if date.fromisoformat(submitted["expiry_date"]) < today:
        return magic.DOCUMENT_EXPIRED
    if _age(birth, today) < magic.MINIMUM_AGE:
        return magic.UNDER_AGE
    return magic.VERIFIED


def _same_national_id(data: Any, submitted: dict[str, Any]) -> bool:
    country = str(data.national_id_country or "").upper()
    if country != submitted["national_id_country"]:
        return False
    return inputs.national_id_compact(data.national_id, country) == submitted["national_id"]


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _apply(session: VerificationSession, outcome: Outcome, *, actor: str, now: datetime) -> None:
    if outcome.status == SessionStatus.VERIFIED:
        level = LEVEL_BY_TYPE[SessionType(session.type)]
        session.verified_level = level
        session.verified_at = now
        _move(session, SessionStatus.VERIFIED, actor=actor, now=now)
        person = Person.objects.select_for_update().get(pk=session.person_id)
        if VerificationLevel.rank(level) > VerificationLevel.rank(person.verification_level):
            set_verification_level(person, level, reason=f"verification_session:{session.pk}")
        return
    _move(session, outcome.status, actor=actor, now=now, error=outcome)


@transaction.atomic
def session_force(
    *, session: VerificationSession, outcome: str, actor: Actor
) -> VerificationSession:
    """Test helper: end the session as ``outcome`` now (any of ``magic.FORCEABLE``). A
    session awaiting input goes through ``processing`` first, as it would have; a pending
    processing job then finds nothing to do."""
    chosen = magic.FORCEABLE.get(outcome)
    if chosen is None:
        raise ApplicationError(
            f"Unknown outcome {outcome!r}; known: {', '.join(magic.FORCEABLE)}.",
            code="invalid_outcome",
            fields={"outcome": [f"One of {', '.join(magic.FORCEABLE)}."]},
        )
    session = _lock(session)
    if session.status not in (
        SessionStatus.REQUIRES_INPUT,
        SessionStatus.PROCESSING,
        SessionStatus.REQUIRES_REVIEW,
    ):
        raise Conflict(
            f"This session is {session.status}: its outcome is settled.",
            code="session_outcome_settled",
        )
    if session.status == SessionStatus.REQUIRES_REVIEW and chosen.status == session.status:
        raise Conflict("This session already awaits review.", code="session_invalid_transition")
    _person_usable(Person.objects.get(pk=session.person_id))
    now = clock_now(node_id=session.node_id)
    label = f"test_helper:{actor.label}"
    if session.status == SessionStatus.REQUIRES_INPUT:
        session.attempt += 1
        session.submitted_at = now
        _move(session, SessionStatus.PROCESSING, actor=label, now=now)
    else:
        scheduling.cancel(kind=PROCESS_KIND, key=f"{session.pk}:{session.attempt}")
    _apply(session, chosen, actor=label, now=now)
    _audit(actor, "test_helper.verification_session_forced", session, outcome=outcome)
    return session


@transaction.atomic
def session_review(
    *, session: VerificationSession, approve: bool, actor: Actor
) -> VerificationSession:
    """An operator's decision on a session in manual review (a sanctions hit)."""
    session = _lock(session)
    if session.status != SessionStatus.REQUIRES_REVIEW:
        raise Conflict(
            f"This session is {session.status}, not awaiting review.",
            code="session_not_in_review",
        )
    now = clock_now(node_id=session.node_id)
    outcome = magic.VERIFIED if approve else magic.REVIEW_REJECTED
    _apply(session, outcome, actor=f"operator:{actor.label}", now=now)
    decision = "approve" if approve else "reject"
    _audit(actor, "verification_session.reviewed", session, decision=decision)
    return session


@transaction.atomic
def session_cancel(*, session: VerificationSession, actor: Actor) -> VerificationSession:
    session = _lock(session)
    if session.status not in (SessionStatus.REQUIRES_INPUT, SessionStatus.REQUIRES_REVIEW):
        raise Conflict(
            f"A session that is {session.status} cannot be canceled.",
            code="session_not_cancelable",
        )
    now = clock_now(node_id=session.node_id)
    session.canceled_at = now
    session.phone_code = ""
    _move(session, SessionStatus.CANCELED, actor=actor.label, now=now)
    _audit(actor, "verification_session.canceled", session)
    return session


@transaction.atomic
def session_redact(*, session: VerificationSession, actor: Actor) -> VerificationSession:
    """Forget what was submitted (the document's data, the phone and its code, the score);
    the session's outcome and transitions stay. Not while processing."""
    session = _lock(session)
    if session.status in (SessionStatus.PROCESSING, SessionStatus.REDACTED):
        raise Conflict(
            f"A session that is {session.status} cannot be redacted.",
            code="session_not_redactable",
        )
    now = clock_now(node_id=session.node_id)
    session.submitted = {}
    session.phone_code = ""
    session.name_match_score = None
    session.last_error_code = session.last_error_reason = ""
    session.redacted_at = now
    _move(session, SessionStatus.REDACTED, actor=actor.label, now=now)
    _audit(actor, "verification_session.redacted", session)
    return session
