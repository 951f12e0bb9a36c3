"""What each kind of credential says: its type (``vct``), its selectively disclosable
claim paths, and the predicates computed at issuance. A presentation request may ask only
for these paths (``address`` is short for every part of the address)."""

from __future__ import annotations

import datetime
from typing import Any

from sandbox.identities.credentials.sdjwt import Sd

VCT_IDENTITY = "urn:fsbx:vct:identity:1"
VCT_DELIVERY = "urn:fsbx:vct:delivery:1"
VCT_BUSINESS = "urn:fsbx:vct:business:1"

ADDRESS_PATHS = (
    "address.street_address",
    "address.locality",
    "address.postal_code",
    "address.country",
)

PATHS: dict[str, tuple[str, ...]] = {
    VCT_IDENTITY: (
        "name",
        "birthdate",
        *ADDRESS_PATHS,
        "phone_number",
        "email",
        "nationalities",
        "age_over_19",
        "kyc_level",
    ),
    VCT_DELIVERY: (
        "name",
        "phone_number",
        "order_id",
        *ADDRESS_PATHS,
        "recipient_matches_delivery_address",
        "kyc_level",
    ),
    VCT_BUSINESS: ("legal_name", "registration_number", *ADDRESS_PATHS, "kyc_level"),
}

# Values of these paths are not personal data: a verifier's record may keep them.
PREDICATES = frozenset(
    {"age_over_19", "kyc_level", "recipient_matches_delivery_address", "order_id"}
)

ADULT_AGE = 19  # the Korean age of majority (Civil Act art. 4)


def expand(vct: str, asked: list[str]) -> list[str]:
    """The claim paths ``asked`` names (``address`` expands to its parts), in the
    credential's order; ``ValueError`` lists the unknown ones."""
    known = PATHS[vct]
    wanted: set[str] = set()
    unknown: list[str] = []
    for name in asked:
        if name == "address":
            wanted.update(ADDRESS_PATHS)
        elif name in known:
            wanted.add(name)
        else:
            unknown.append(name)
    if unknown:
        raise ValueError(", ".join(unknown))
    return [path for path in known if path in wanted]


def age_at(birth_date: datetime.date, today: datetime.date) -> int:
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def address_claim(street: str, city: str, postal_code: str, country: str) -> dict[str, Any]:
    """An address (OpenID Connect's address claim names), each part disclosable."""
    return {
        "street_address": Sd(street),
        "locality": Sd(city),
        "postal_code": Sd(postal_code),
        "country": Sd(country),
    }
