"""Bad input: a clear 4xx with a code, and nothing changed."""

from __future__ import annotations

import pytest

from sandbox.events.models import Event
from sandbox.identities import services as identity_services
from sandbox.identities.verification.models import SessionTransition, VerificationSession
from tests.factories import NodeFactory
from tests.identities.kyc import PHONE, personal_data

pytestmark = pytest.mark.django_db


def state(session_id=None) -> tuple:
    row = (
        VerificationSession.objects.filter(pk=session_id)
        .values_list("status", "attempt", "submitted", "phone_code")
        .first()
    )
    return (
        row,
        VerificationSession.objects.count(),
        SessionTransition.objects.count(),
        Event.objects.count(),
    )


def refused(kyc, path: str, body: dict) -> tuple[int, str]:
    before = state(path.split("/")[1] if "/" in path else None)
    answer = kyc.refused(path, body)
    assert state(path.split("/")[1] if "/" in path else None) == before
    return answer


@pytest.mark.parametrize(
    "national_id, country, code",
    [
        ("900517-1234567", "KR", "invalid_national_id"),  # wrong check digit
        ("900517-12345", "KR", "invalid_national_id"),  # too short
        ("901317-1234561", "KR", "invalid_national_id"),  # month 13
        ("abcdef-ghijklm", "KR", "invalid_national_id"),
        ("078-05-1120", "US", "invalid_national_id"),  # a famous invalid SSN
        ("123456789", "ZZ", "unsupported_national_id_country"),
    ],
)
def test_malformed_national_ids_are_refused(kyc, national_id, country, code):
    session = kyc.create(kyc.person(), "id_number")
    body = {"national_id": national_id, "national_id_country": country}
    assert refused(kyc, f"verification_sessions/{session['id']}/submit", body) == (400, code)


@pytest.mark.parametrize(
    "birth_date", ["1990-02-30", "2031-01-01", "1850-01-01", "17/05/1990", "1990-5-17x"]
)
def test_impossible_birth_dates_are_refused(kyc, birth_date):
    session = kyc.create(kyc.person(), "document")
    body = kyc.document(birth_date=birth_date)
    assert refused(kyc, f"verification_sessions/{session['id']}/submit", body) == (
        400,
        "invalid_birth_date",
    )


def test_impossible_expiry_dates_are_refused(kyc):
    session = kyc.create(kyc.person(), "document")
    body = kyc.document(expiry_date="2030-02-29")
    assert refused(kyc, f"verification_sessions/{session['id']}/submit", body) == (
        400,
        "invalid_expiry_date",
    )


@pytest.mark.parametrize(
    "phone", ["010-1234-5678", "+82", "821012345678", "+82 10 abc", "+0123456789"]
)
def test_phones_in_the_wrong_format_are_refused(kyc, phone):
    session = kyc.create(kyc.person(), "phone")
    path = f"verification_sessions/{session['id']}/submit"
    assert refused(kyc, path, {"phone": phone}) == (400, "invalid_phone")


def test_a_code_before_the_phone_and_a_malformed_code_are_refused(kyc):
    session = kyc.create(kyc.person(), "phone")
    path = f"verification_sessions/{session['id']}/submit"
    assert refused(kyc, path, {"code": "123456"}) == (409, "phone_code_not_sent")
    kyc.submit(session, phone=PHONE)
    assert refused(kyc, path, {"code": "12ab56"}) == (400, "invalid_code")
    assert refused(kyc, path, {"code": "123456", "phone": PHONE}) == (
        400,
        "field_not_for_session_type",
    )


def test_input_of_another_type_and_missing_input_are_refused(kyc):
    session = kyc.create(kyc.person(), "id_number")
    path = f"verification_sessions/{session['id']}/submit"
    assert refused(kyc, path, {"phone": PHONE}) == (400, "field_not_for_session_type")
    assert refused(kyc, path, {}) == (400, "missing_field")
    assert refused(kyc, path, {"selfie": "x"}) == (400, "unknown_field")
    document = kyc.create(kyc.person(), "document")
    body = kyc.document(document_type="library_card")
    assert refused(kyc, f"verification_sessions/{document['id']}/submit", body) == (
        400,
        "invalid_document_type",
    )


def test_an_unknown_session_type_is_refused(kyc):
    body = {"person_id": str(kyc.person().pk), "type": "palm_reading"}
    assert refused(kyc, "verification_sessions", body) == (400, "invalid_session_type")


def test_another_tenants_person_is_not_found(kyc, outsider):
    theirs = identity_services.register_person(
        tenant=outsider.tenant, data=personal_data(), node=NodeFactory(tenant=outsider.tenant)
    )
    status, code = refused(
        kyc, "verification_sessions", {"person_id": str(theirs.pk), "type": "phone"}
    )
    assert status == 404 and code.endswith("not_found")
    status, code = refused(
        kyc, "social_links", {"person_id": str(theirs.pk), "provider": "sandbox-talk"}
    )
    assert status == 404 and code.endswith("not_found")


def test_a_redacted_person_cannot_be_verified(kyc):
    person = kyc.person()
    session = kyc.create(person, "phone")
    identity_services.erase(person, actor="test", reason="right to be forgotten")
    assert refused(
        kyc, "verification_sessions", {"person_id": str(person.pk), "type": "phone"}
    ) == (
        410,
        "person_redacted",
    )
    path = f"verification_sessions/{session['id']}/submit"
    assert refused(kyc, path, {"phone": PHONE}) == (410, "person_redacted")
    body = {"person_id": str(person.pk), "provider": "sandbox-talk"}
    assert refused(kyc, "social_links", body) == (410, "person_redacted")


def test_a_person_erased_while_processing_fails_the_session(kyc):
    person = kyc.person()
    session = kyc.create(person, "id_number")
    kyc.submit(session, national_id=personal_data().national_id)
    identity_services.erase(person, actor="test", reason="right to be forgotten")
    kyc.advance(10)
    done = kyc.session(session)
    assert (done["status"], done["last_error"]["code"]) == ("requires_input", "person_redacted")
    person.refresh_from_db()
    assert person.verification_level == "unverified"


@pytest.mark.parametrize(
    "values, code",
    [
        ({"bank_code": "KB", "account_number": "123456789012"}, "invalid_bank_code"),
        ({"bank_code": "004", "account_number": "12-ab-34"}, "invalid_account_number"),
    ],
)
def test_malformed_bank_accounts_are_refused(kyc, values, code):
    session = kyc.create(kyc.person(), "bank_account")
    path = f"verification_sessions/{session['id']}/submit"
    assert refused(kyc, path, values) == (400, code)


def test_a_malformed_document_number_is_refused(kyc):
    session = kyc.create(kyc.person(), "document")
    body = kyc.document(document_number="<script>")
    assert refused(kyc, f"verification_sessions/{session['id']}/submit", body) == (
        400,
        "invalid_document_number",
    )
