"""What people and API keys do to verification sessions and social links is in the tenant's
audit log, one entry per action: who (the key, the member, the operator), on which object,
its type and state; never what was submitted (no national id, phone, code or provider
account). The platform's own processing writes transitions and events, no entry."""

from __future__ import annotations

import pytest

from sandbox.identities.verification.models import SocialLink
from sandbox.tenants.models import AuditLogEntry
from tests.identities.kyc import PHONE, personal_data
from tests.identities.test_verification_social import complete, login, start

pytestmark = pytest.mark.django_db

DELAY = 10


def entries(target_id) -> list[tuple[str, dict]]:
    found = AuditLogEntry.objects.filter(target_id=str(target_id)).order_by("created_at", "id")
    return [(entry.action, entry.data) for entry in found]


def test_a_sessions_life_through_the_api_is_audited_under_the_key(kyc, alice):
    person = kyc.person()
    session = kyc.create(person, "id_number")
    kyc.submit(session, national_id=personal_data().national_id)
    kyc.advance(DELAY)  # the platform's processing: verified, no entry
    kyc.post(f"verification_sessions/{session['id']}/redact")

    assert entries(session["id"]) == [
        ("verification_session.created", {"type": "id_number", "status": "requires_input"}),
        ("verification_session.submitted", {"type": "id_number", "status": "processing"}),
        ("verification_session.redacted", {"type": "id_number", "status": "redacted"}),
    ]
    entry = AuditLogEntry.objects.filter(target_id=session["id"]).first()
    assert entry.tenant == alice.tenant and entry.target_type == "verificationsession"
    assert alice.api_key.startswith(entry.actor_api_key.prefix)


def test_what_was_submitted_never_reaches_the_audit_log(kyc):
    session = kyc.create(kyc.person(), "phone")
    kyc.submit(session, phone=PHONE)
    kyc.submit(session, code="000000")
    kyc.post(f"verification_sessions/{session['id']}/cancel", status=409)  # processing

    logged = str(entries(session["id"]))
    assert "phone" in logged  # the session's type
    assert PHONE not in logged and "000000" not in logged and "+82" not in logged


def test_a_forced_outcome_cancel_and_review_name_who_did_them(kyc, operator, operator_api):
    person = kyc.person()
    forced = kyc.create(person, "document")
    kyc.force(forced, "sanctions_hit")
    reviewed = operator_api.post(
        f"/api/v1/operator/verification_sessions/{forced['id']}/review",
        {"decision": "reject"},
        format="json",
    )
    assert reviewed.status_code == 200
    kyc.post(f"verification_sessions/{forced['id']}/cancel")

    actions = entries(forced["id"])
    assert actions[1:] == [
        (
            "test_helper.verification_session_forced",
            {"type": "document", "status": "requires_review", "outcome": "sanctions_hit"},
        ),
        (
            "verification_session.reviewed",
            {"type": "document", "status": "requires_input", "decision": "reject"},
        ),
        ("verification_session.canceled", {"type": "document", "status": "canceled"}),
    ]
    review = AuditLogEntry.objects.get(action="verification_session.reviewed")
    assert review.actor_user == operator and review.is_operator_action
    assert review.tenant == kyc.party.tenant  # the tenant sees the operator's decision


def test_a_social_link_started_and_completed_is_audited_without_the_account(kyc):
    person = kyc.person()
    link = start(kyc, person, "sandbox-talk")
    assert complete(kyc, link, login(kyc, person, link)).status_code == 200

    subject = SocialLink.objects.get(pk=link["id"]).subject
    assert entries(link["id"]) == [
        ("social_link.created", {"provider": "sandbox-talk"}),
        ("social_link.linked", {"provider": "sandbox-talk"}),
    ]
    linked = AuditLogEntry.objects.get(action="social_link.linked")
    assert subject not in f"{linked.data} {linked.target_label}"


def test_a_refused_completion_writes_no_entry(kyc):
    person = kyc.person()
    link = start(kyc, person)
    assert complete(kyc, link, "not-a-token").status_code == 400

    assert [action for action, _ in entries(link["id"])] == ["social_link.created"]


def test_the_dashboards_actions_are_audited_under_the_member(kyc, alice):
    session = kyc.create(kyc.person(), "id_number")
    alice.web.post(f"/identities/verification-sessions/{session['id']}/cancel/")

    entry = AuditLogEntry.objects.get(action="verification_session.canceled")
    assert entry.actor_user == alice.owner and entry.target_id == session["id"]
