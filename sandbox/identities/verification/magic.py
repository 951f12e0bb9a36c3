"""The documented magic values (docs/identities.md, "Verification sessions (KYC) and magic
values"): what a tester submits to force an outcome, the way test card numbers force a
card's. One table; the docs test reads it back, so code and docs cannot drift."""

from __future__ import annotations

from dataclasses import dataclass

# The phone code that always passes (the real one is shown in the dashboard and by the
# test helper, never in the session's API answer).
MAGIC_PHONE_CODE = "000000"


@dataclass(frozen=True)
class Outcome:
    """Where processing ends: ``verified``, back to ``requires_input`` with an error, or
    ``requires_review`` (an operator decides)."""

    name: str
    status: str
    error_code: str = ""
    reason: str = ""


VERIFIED = Outcome("verified", "verified")
DOCUMENT_FAKE = Outcome(
    "document_fake", "requires_input", "document_fake", "The document looks forged."
)
FACE_MISMATCH = Outcome(
    "selfie_face_mismatch",
    "requires_input",
    "selfie_face_mismatch",
    "The selfie does not match the document's photo.",
)
UNDER_AGE = Outcome(
    "under_supported_age",
    "requires_input",
    "under_supported_age",
    "The person is younger than 19 (Korean age of majority).",
)
DOCUMENT_EXPIRED = Outcome(
    "document_expired", "requires_input", "document_expired", "The document has expired."
)
SANCTIONS_HIT = Outcome(
    "sanctions_hit",
    "requires_review",
    "sanctions_hit",
    "The name is close to an entry of a sanctions list: an operator reviews.",
)
ID_NUMBER_MISMATCH = Outcome(
    "id_number_mismatch",
    "requires_input",
    "id_number_mismatch",
    "The national id is not the person's.",
)
PHONE_MISMATCH = Outcome(
    "phone_mismatch", "requires_input", "phone_mismatch", "The phone number is not the person's."
)
PHONE_CODE_INCORRECT = Outcome(
    "phone_code_incorrect",
    "requires_input",
    "phone_code_incorrect",
    "The code is not the one sent.",
)
NAME_MISMATCH = Outcome(
    "name_mismatch",
    "requires_input",
    "name_mismatch",
    "The bank account's holder does not match the person's name.",
)
BANK_ACCOUNT_UNKNOWN = Outcome(
    "bank_account_unknown",
    "requires_input",
    "bank_account_unknown",
    "No open account with this number at this bank.",
)
REVIEW_REJECTED = Outcome(
    "review_rejected", "requires_input", "review_rejected", "An operator rejected the session."
)

# Document numbers that force an outcome of a ``document`` session (any other number is
# checked for real: its birth date against the person's, its expiry, the person's age).
DOCUMENT_NUMBERS: dict[str, Outcome] = {
    "TEST-FAKE": DOCUMENT_FAKE,
    "TEST-FACE-MISMATCH": FACE_MISMATCH,
    "TEST-UNDER-AGE": UNDER_AGE,
    "TEST-SANCTIONS": SANCTIONS_HIT,
    "TEST-EXPIRED": DOCUMENT_EXPIRED,
}

# Every outcome the test helper can force.
FORCEABLE: dict[str, Outcome] = {
    outcome.name: outcome
    for outcome in (
        VERIFIED,
        DOCUMENT_FAKE,
        FACE_MISMATCH,
        UNDER_AGE,
        DOCUMENT_EXPIRED,
        SANCTIONS_HIT,
        ID_NUMBER_MISMATCH,
        PHONE_MISMATCH,
        PHONE_CODE_INCORRECT,
        NAME_MISMATCH,
        BANK_ACCOUNT_UNKNOWN,
    )
}

# The age of majority the under-age check applies (Korea: 19).
MINIMUM_AGE = 19
# The score (0-100) from which a bank account's holder matches the person's name.
NAME_MATCH_THRESHOLD = 90

DOCUMENT_MISMATCH = Outcome(
    "document_mismatch",
    "requires_input",
    "document_mismatch",
    "The document's birth date is not the person's.",
)
PERSON_REDACTED = Outcome(
    "person_redacted",
    "requires_input",
    "person_redacted",
    "The person's data was erased meanwhile.",
)
FORCEABLE[DOCUMENT_MISMATCH.name] = DOCUMENT_MISMATCH
