"""A verification session's lifecycle, like Stripe Identity's: requires_input → processing
→ verified, or back to requires_input with a last_error; requires_review (operators
decide); canceled; redacted. Processing runs asynchronously, on the node's test clock;
each transition is an event and a signed webhook."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from sandbox.events import clocks
from sandbox.events.models import Event
from sandbox.events.services import webhook_secret_current
from sandbox.identities import services as identity_services
from sandbox.identities.models import Person
from sandbox.identities.verification.models import SessionTransition, VerificationSession
from sandbox.identities.verification.services import PROCESSING_DELAY
from sandbox.tenants.services import SYSTEM
from tests.factories import NodeFactory
from tests.helpers import error_code, pump
from tests.identities.kyc import PHONE, make_rrn, personal_data
from wallets.banknet.bank_accounts import bank_account_create

pytestmark = pytest.mark.django_db
DELAY = PROCESSING_DELAY.total_seconds()


def statuses(session: dict) -> list[tuple[str, str]]:
    return list(
        SessionTransition.objects.filter(session_id=session["id"])
        .order_by("at", "id")
        .values_list("from_status", "to_status")
    )


def level(person: Person) -> str:
    person.refresh_from_db()
    return person.verification_level


def test_a_new_session_requires_input(kyc):
    person = kyc.person()
    session = kyc.create(person, "id_number")
    assert session["status"] == "requires_input"
    assert session["last_error"] is None and session["verified_level"] is None
    assert statuses(session) == [("", "requires_input")]
    assert Event.objects.filter(
        object_id=session["id"], type="identity.verification_session.created"
    ).exists()


def test_an_id_number_session_is_processed_on_the_nodes_test_clock(kyc):
    person = kyc.person()
    session = kyc.create(person, "id_number")

    submitted = kyc.submit(session, national_id=personal_data().national_id)
    assert submitted["status"] == "processing"
    assert submitted["submitted_at"] == "2026-03-02T09:00:00+00:00"

    kyc.advance(DELAY - 1)
    assert kyc.session(session)["status"] == "processing"
    kyc.advance(1)
    done = kyc.session(session)
    assert done["status"] == "verified"
    assert done["verified_level"] == "secondary"
    assert done["verified_at"] == "2026-03-02T09:00:10+00:00"  # the clock's time, not ours
    assert statuses(session) == [
        ("", "requires_input"),
        ("requires_input", "processing"),
        ("processing", "verified"),
    ]
    assert level(person) == "secondary"


def test_a_failed_check_returns_the_session_to_requires_input_with_its_error(kyc):
    person = kyc.person()
    session = kyc.create(person, "id_number")
    someone_else = make_rrn(personal_data().birth_date, serial="654321")
    kyc.submit(session, national_id=someone_else)
    kyc.advance(DELAY)

    failed = kyc.session(session)
    assert failed["status"] == "requires_input"
    assert failed["last_error"]["code"] == "id_number_mismatch"
    assert level(person) == "unverified"

    # Submitting again starts a second attempt, which passes.
    kyc.submit(session, national_id=personal_data().national_id)
    kyc.advance(DELAY)
    again = kyc.session(session)
    assert (again["status"], again["attempts"], again["last_error"]) == ("verified", 2, None)
    assert statuses(session)[-2:] == [
        ("requires_input", "processing"),
        ("processing", "verified"),
    ]


def test_a_phone_session_sends_a_code_the_api_never_shows(kyc, alice):
    person = kyc.person()
    session = kyc.create(person, "phone")
    sent = kyc.submit(session, phone=PHONE)
    assert sent["status"] == "requires_input" and sent["phone_code_sent"] is True
    code = VerificationSession.objects.get(pk=session["id"]).phone_code
    assert len(code) == 6
    for shown in (sent, kyc.session(session), kyc.get("verification_sessions")):
        assert code not in str(shown)
    # The tester sees it: the test helper and the dashboard.
    assert kyc.get(f"test_helpers/verification_sessions/{session['id']}/phone_code") == {
        "code": code
    }
    page = alice.web.get(f"/identities/verification-sessions/{session['id']}/")
    assert page.status_code == 200 and code in page.content.decode()

    kyc.submit(session, code=code)
    kyc.advance(DELAY)
    assert kyc.session(session)["status"] == "verified"
    assert level(person) == "secondary"


def test_a_wrong_phone_code_fails_and_the_magic_code_passes(kyc):
    person = kyc.person()
    session = kyc.create(person, "phone")
    kyc.submit(session, phone=PHONE)
    real = VerificationSession.objects.get(pk=session["id"]).phone_code
    wrong = "111111" if real != "111111" else "222222"
    kyc.submit(session, code=wrong)
    kyc.advance(DELAY)
    assert kyc.session(session)["last_error"]["code"] == "phone_code_incorrect"

    kyc.submit(session, code="000000")
    kyc.advance(DELAY)
    assert kyc.session(session)["status"] == "verified"


def test_a_phone_that_is_not_the_persons_fails(kyc):
    session = kyc.create(kyc.person(), "phone")
    kyc.submit(session, phone="+821099998888")
    kyc.submit(session, code="000000")
    kyc.advance(DELAY)
    assert kyc.session(session)["last_error"]["code"] == "phone_mismatch"


def test_a_document_session_makes_the_person_real_name(kyc):
    person = kyc.person()
    session = kyc.create(person, "document")
    kyc.submit(session, **kyc.document())
    kyc.advance(DELAY)
    done = kyc.session(session)
    assert (done["status"], done["verified_level"]) == ("verified", "real_name")
    assert level(person) == "real_name"


def test_the_real_name_check_answers_a_score_never_the_holders_name(kyc, alice, banks):
    person = kyc.person()
    bank_account_create(
        tenant=alice.tenant,
        actor=SYSTEM,
        bank_code="004",
        account_number="123456789012",
        holder_name="Kim Minjun",
    )
    bank_account_create(
        tenant=alice.tenant,
        actor=SYSTEM,
        bank_code="004",
        account_number="999456789012",
        holder_name="Park Jiwoo",
    )
    matched = kyc.create(person, "bank_account")
    kyc.submit(matched, bank_code="004", account_number="123456789012")
    other = kyc.create(person, "bank_account")
    kyc.submit(other, bank_code="004", account_number="999456789012")
    unknown = kyc.create(person, "bank_account")
    kyc.submit(unknown, bank_code="004", account_number="111111111111")
    kyc.advance(DELAY)

    matched, other, unknown = (kyc.session(s) for s in (matched, other, unknown))
    assert (matched["status"], matched["name_match_score"]) == ("verified", 100)
    assert matched["verified_level"] == "real_name"
    assert other["status"] == "requires_input"
    assert other["last_error"]["code"] == "name_mismatch"
    assert other["name_match_score"] < 90
    assert unknown["last_error"]["code"] == "bank_account_unknown"
    assert "Park" not in str(other) and "Kim" not in str(matched)
    assert level(person) == "real_name"


def test_a_session_never_lowers_a_persons_level(kyc):
    person = kyc.person()
    document = kyc.create(person, "document")
    kyc.force(document, "verified")
    assert level(person) == "real_name"
    phone = kyc.create(person, "phone")
    kyc.force(phone, "verified")
    assert kyc.session(phone)["verified_level"] == "secondary"
    assert level(person) == "real_name"


def test_cancel_from_requires_input_and_not_while_processing(kyc):
    person = kyc.person()
    session = kyc.create(person, "id_number")
    canceled = kyc.post(f"verification_sessions/{session['id']}/cancel")
    assert canceled["status"] == "canceled" and canceled["canceled_at"]
    assert kyc.refused(f"verification_sessions/{session['id']}/cancel") == (
        409,
        "session_not_cancelable",
    )
    assert kyc.refused(f"verification_sessions/{session['id']}/submit", {"national_id": "x"}) == (
        409,
        "session_not_awaiting_input",
    )

    busy = kyc.create(person, "id_number")
    kyc.submit(busy, national_id=personal_data().national_id)
    assert kyc.refused(f"verification_sessions/{busy['id']}/cancel") == (
        409,
        "session_not_cancelable",
    )


def test_redaction_forgets_what_was_submitted_and_keeps_the_outcome(kyc):
    person = kyc.person()
    session = kyc.create(person, "document")
    kyc.submit(session, **kyc.document())
    assert kyc.refused(f"verification_sessions/{session['id']}/redact") == (
        409,
        "session_not_redactable",
    )
    kyc.advance(DELAY)
    redacted = kyc.post(f"verification_sessions/{session['id']}/redact")
    assert redacted["status"] == "redacted" and redacted["verified_level"] == "real_name"
    row = VerificationSession.objects.get(pk=session["id"])
    assert row.submitted == {} and row.phone_code == ""
    assert kyc.refused(f"verification_sessions/{session['id']}/redact") == (
        409,
        "session_not_redactable",
    )
    assert statuses(session)[-1] == ("verified", "redacted")


def test_a_canceled_session_can_be_redacted(kyc):
    session = kyc.create(kyc.person(), "phone")
    kyc.submit(session, phone=PHONE)
    kyc.post(f"verification_sessions/{session['id']}/cancel")
    assert kyc.post(f"verification_sessions/{session['id']}/redact")["status"] == "redacted"
    assert VerificationSession.objects.get(pk=session["id"]).phone_code == ""


def test_manual_review_is_resolved_by_operators_only(kyc, operator_api):
    person = kyc.person()
    approved = kyc.create(person, "document")
    kyc.submit(approved, **kyc.document(document_number="TEST-SANCTIONS"))
    rejected = kyc.create(person, "document")
    kyc.submit(rejected, **kyc.document(document_number="TEST-SANCTIONS"))
    kyc.advance(DELAY)
    in_review = kyc.session(approved)
    assert (in_review["status"], in_review["review_reason"]) == ("requires_review", "sanctions_hit")
    assert level(person) == "unverified"

    path = f"operator/verification_sessions/{approved['id']}/review"
    assert kyc.refused(path, {"decision": "approve"}) == (403, "operator_only")
    answer = operator_api.post(f"/api/v1/{path}", {"decision": "approve"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "verified"
    assert level(person) == "real_name"
    again = operator_api.post(f"/api/v1/{path}", {"decision": "approve"}, format="json")
    assert (again.status_code, error_code(again)) == (409, "session_not_in_review")

    answer = operator_api.post(
        f"/api/v1/operator/verification_sessions/{rejected['id']}/review",
        {"decision": "reject"},
        format="json",
    )
    assert answer.json()["status"] == "requires_input"
    assert answer.json()["last_error"]["code"] == "review_rejected"
    assert statuses(rejected)[-2:] == [
        ("processing", "requires_review"),
        ("requires_review", "requires_input"),
    ]


def test_a_forced_outcome_leaves_the_pending_processing_job_nothing_to_do(kyc):
    person = kyc.person()
    session = kyc.create(person, "id_number")
    wrong = make_rrn(personal_data().birth_date, serial="777777")
    kyc.submit(session, national_id=wrong)  # processing would fail it
    kyc.force(session, "verified")
    kyc.advance(DELAY)
    assert kyc.session(session)["status"] == "verified"
    assert [to for _, to in statuses(session)].count("verified") == 1


def test_the_database_guards_the_states(kyc):
    session = VerificationSession.objects.get(pk=kyc.create(kyc.person(), "phone")["id"])
    broken = [
        {"status": "verified"},  # no level, no time
        {"status": "processing"},  # never submitted
        {"status": "requires_review"},  # no reason
        {"status": "canceled"},  # no time
        {"status": "redacted", "submitted": {"phone": PHONE}},  # keeps data
        {"status": "bogus"},
        {"last_error_code": "x", "status": "processing", "attempt": 1},
        {"name_match_score": 101},
    ]
    for changes in broken:
        with pytest.raises(IntegrityError), transaction.atomic():
            VerificationSession.objects.filter(pk=session.pk).update(**changes)


def test_every_transition_reaches_the_nodes_webhook_signed(
    alice, receiver, webhook_settings, celery_eager, kyc_clock
):
    hooked = NodeFactory(tenant=alice.tenant, name="Hooked", webhook_url=receiver.url)
    clocks.test_clock_attach(clock=kyc_clock, node=hooked, actor=SYSTEM)
    receiver.secrets = [webhook_secret_current(node=hooked).secret]
    person = identity_services.register_person(
        tenant=alice.tenant, data=personal_data(), node=hooked
    )
    api = alice.api
    session = api.post(
        "/api/v1/verification_sessions",
        {"person_id": str(person.pk), "type": "id_number"},
        format="json",
    ).json()
    api.post(
        f"/api/v1/verification_sessions/{session['id']}/submit",
        {"national_id": make_rrn(personal_data().birth_date, serial="555555")},
        format="json",
    )
    kyc_clock.refresh_from_db()
    clocks.test_clock_advance(
        clock=kyc_clock, to=kyc_clock.frozen_time + PROCESSING_DELAY, actor=SYSTEM
    )
    clocks.test_clock_run_advance(clock_id=kyc_clock.pk)
    api.post(
        f"/api/v1/test_helpers/verification_sessions/{session['id']}/force",
        {"outcome": "verified"},
        format="json",
    )
    final = api.post(f"/api/v1/verification_sessions/{session['id']}/redact", format="json").json()

    pump()

    seen = [
        r.json["type"]
        for r in receiver.requests
        if r.json["type"].startswith("identity.verification_session.")
    ]
    # Deliveries are not necessarily in order (docs/webhooks.md): an endpoint's due events
    # go out at once, in batches.
    assert sorted(seen) == sorted(
        [
            "identity.verification_session.created",
            "identity.verification_session.processing",
            "identity.verification_session.requires_input",
            "identity.verification_session.processing",
            "identity.verification_session.verified",
            "identity.verification_session.redacted",
        ]
    )
    assert all(r.verified for r in receiver.requests), [r.verify_error for r in receiver.requests]
    last = next(
        r for r in receiver.requests if r.json["type"] == "identity.verification_session.redacted"
    )
    assert last.json["data"] == final


def test_the_dashboard_lists_sessions_and_forces_an_outcome(kyc, alice):
    session = kyc.create(kyc.person(), "document")
    listed = alice.web.get("/identities/verification-sessions/")
    assert listed.status_code == 200 and session["id"] in listed.content.decode()
    answer = alice.web.post(
        f"/identities/verification-sessions/{session['id']}/force/",
        {"outcome": "sanctions_hit"},
    )
    assert answer.status_code == 302
    page = alice.web.get(f"/identities/verification-sessions/{session['id']}/").content.decode()
    assert "requires_review" in page and "sanctions_hit" in page
    assert kyc.session(session)["status"] == "requires_review"


def test_a_person_without_a_node_is_verified_on_the_platform_clock(kyc, alice):
    person = identity_services.register_person(tenant=alice.tenant, data=personal_data())
    session = kyc.create(person, "phone")
    assert session["node_id"] is None
    kyc.force(session, "verified")
    assert level(person) == "secondary"
    types = set(Event.objects.filter(object_id=session["id"]).values_list("type", flat=True))
    assert "identity.verification_session.verified" in types
