"""The documented magic values force outcomes, like test card numbers; so does the test
helper, for any outcome; and the docs' table is the code's table."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from sandbox.identities.verification import magic
from sandbox.identities.verification.services import PROCESSING_DELAY
from tests.identities.kyc import personal_data

pytestmark = pytest.mark.django_db
DELAY = PROCESSING_DELAY.total_seconds()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "identities.md"
HEADING = "## Verification sessions (KYC) and magic values"


@pytest.mark.parametrize("number", sorted(magic.DOCUMENT_NUMBERS))
def test_a_magic_document_number_forces_its_outcome(kyc, number):
    expected = magic.DOCUMENT_NUMBERS[number]
    person = kyc.person()
    session = kyc.create(person, "document")
    kyc.submit(session, **kyc.document(document_number=number.lower()))  # any case
    kyc.advance(DELAY)
    done = kyc.session(session)
    assert done["status"] == expected.status
    if expected.status == "requires_input":
        assert done["last_error"] == {"code": expected.error_code, "reason": expected.reason}
    else:
        assert done["review_reason"] == expected.error_code == "sanctions_hit"
    person.refresh_from_db()
    assert person.verification_level == "unverified"


def test_an_expired_document_fails_without_a_magic_number(kyc):
    session = kyc.create(kyc.person(), "document")
    kyc.submit(session, **kyc.document(expiry_date="2026-03-01"))  # the day before the clock's
    kyc.advance(DELAY)
    assert kyc.session(session)["last_error"]["code"] == "document_expired"


def test_a_person_under_19_fails_without_a_magic_number(kyc):
    young = personal_data(birth_date=datetime.date(2008, 3, 3))  # 18 on 2026-03-02
    session = kyc.create(
        kyc.person(birth_date=young.birth_date, national_id=young.national_id), "document"
    )
    kyc.submit(session, **kyc.document(young))
    kyc.advance(DELAY)
    assert kyc.session(session)["last_error"]["code"] == "under_supported_age"


def test_a_document_with_another_birth_date_fails(kyc):
    session = kyc.create(kyc.person(), "document")
    kyc.submit(session, **kyc.document(birth_date="1991-05-17"))
    kyc.advance(DELAY)
    assert kyc.session(session)["last_error"]["code"] in ("document_mismatch", "id_number_mismatch")


@pytest.mark.parametrize("outcome", sorted(magic.FORCEABLE))
def test_the_test_helper_forces_any_outcome(kyc, outcome):
    expected = magic.FORCEABLE[outcome]
    session = kyc.create(kyc.person(), "id_number")
    forced = kyc.force(session, outcome)
    assert forced["status"] == expected.status
    if expected.status == "requires_input":
        assert forced["last_error"]["code"] == expected.error_code
    # From processing, too (the pending job then does nothing).
    if expected.status == "requires_input":
        kyc.submit(session, national_id=personal_data().national_id)
        assert kyc.force(session, outcome)["status"] == expected.status
        kyc.advance(DELAY)
        assert kyc.session(session)["status"] == expected.status


def test_a_settled_session_cannot_be_forced(kyc):
    session = kyc.create(kyc.person(), "id_number")
    kyc.force(session, "verified")
    path = f"test_helpers/verification_sessions/{session['id']}/force"
    assert kyc.refused(path, {"outcome": "document_fake"}) == (409, "session_outcome_settled")
    assert kyc.refused(path, {"outcome": "nonsense"})[0] == 400


def _docs_table() -> dict[str, str]:
    text = DOCS.read_text()
    assert HEADING in text
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`TEST-"):
            rows[cells[0].strip("`")] = re.sub(r"[`]", "", cells[2]).split()[0]
    return rows


def test_the_docs_list_every_magic_document_number_with_its_outcome():
    assert _docs_table() == {
        number: outcome.error_code for number, outcome in magic.DOCUMENT_NUMBERS.items()
    }
    assert f"`{magic.MAGIC_PHONE_CODE}`" in DOCS.read_text()
