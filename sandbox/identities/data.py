"""Personal data as plain values, and the rules a value must meet before it is sealed.

``validate_personal_data`` normalizes (an E.164 phone, a compact national id, a lowercased
e-mail) and refuses what cannot be true with one ``Unprocessable`` whose ``fields`` map each
bad field to a machine-readable code; nothing is stored before it passes.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django_countries import countries
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.kr import rrn

from sandbox.errors import Unprocessable

OLDEST_AGE_YEARS = 130
DEFAULT_PHONE_REGION = "KR"


@dataclass(frozen=True)
class Address:
    street: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-2

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class PersonalData:
    legal_name: str
    birth_date: datetime.date
    national_id: str
    national_id_country: str  # ISO 3166-1 alpha-2; "KR": a resident registration number
    phone: str  # E.164
    email: str
    address: Address


# --- Normalizing (also what the blind indexes are computed over) ------------------------------


def normalize_name(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).split())


def normalize_phone(value: str, *, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164; raises ``ValueError`` for what is not a valid phone number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    return value.strip().lower()


def normalize_national_id(value: str, country: str) -> str:
    """The compact form: digits only for a Korean RRN; the country's own compact form (by
    python-stdnum) for the others, upper-case letters and digits when stdnum knows none."""
    if country == "KR":
        return re.sub(r"\D", "", value)
    module = FOREIGN_IDS.get(country)
    if module is not None:
        return str(module.compact(value))
    return re.sub(r"[^0-9A-Z]", "", value.upper())


def _foreign_ids() -> dict[str, Any]:
    # Personal (not tax-of-company) identifiers python-stdnum validates, by country.
    from stdnum.cn import ric
    from stdnum.de import idnr
    from stdnum.es import dni
    from stdnum.fi import hetu
    from stdnum.fr import nir
    from stdnum.it import codicefiscale
    from stdnum.jp import in_ as jp_in
    from stdnum.nl import bsn
    from stdnum.se import personnummer
    from stdnum.us import ssn

    return {
        "CN": ric,
        "DE": idnr,
        "ES": dni,
        "FI": hetu,
        "FR": nir,
        "IT": codicefiscale,
        "JP": jp_in,
        "NL": bsn,
        "SE": personnummer,
        "US": ssn,
    }


FOREIGN_IDS = _foreign_ids()
GENERIC_ID = re.compile(r"^[0-9A-Z]{5,20}$")


# --- Validation --------------------------------------------------------------------------------


def _as_date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        return None


# Resident registration numbers issued from 5 October 2020 on end in six random digits: no
# region code, no check digit. A number whose holder was born since can only be new-style;
# an older holder's number must carry the old check digit (python-stdnum's ``kr.rrn``).
RRN_RANDOM_SINCE = datetime.date(2020, 10, 5)


def rrn_is_valid(compact: str) -> bool:
    """Format, birth date and century digit always; the check digit (and region) for a
    holder born before the new-style numbers."""
    if not (len(compact) == 13 and compact.isdigit()):
        return False
    try:
        born = rrn.get_birth_date(compact)
    except StdnumError:
        return False
    if born >= RRN_RANDOM_SINCE:
        return True
    return bool(rrn.is_valid(compact))


def _check_national_id(
    value: str, country: str, birth_date: datetime.date | None, errors: dict[str, Any]
) -> str:
    compact = normalize_national_id(value, country)
    if country == "KR":
        if not rrn_is_valid(compact):
            errors["national_id"] = {
                "code": "invalid_national_id",
                "message": "Not a valid resident registration number (format or check digit).",
            }
            return compact
        if birth_date is not None and rrn.get_birth_date(compact) != birth_date:
            errors["national_id"] = {
                "code": "national_id_birth_date_mismatch",
                "message": "The resident registration number encodes another birth date.",
            }
        return compact
    module = FOREIGN_IDS.get(country)
    if module is not None:
        if not module.is_valid(compact):
            errors["national_id"] = {
                "code": "invalid_national_id",
                "message": f"Not a valid personal id of {country} (format or check digit).",
            }
    elif not GENERIC_ID.match(compact):
        errors["national_id"] = {
            "code": "invalid_national_id",
            "message": "An id of this country is 5 to 20 letters and digits.",
        }
    return compact


def validate_personal_data(data: PersonalData, *, today: datetime.date) -> PersonalData:
    """The normalized data, or ``Unprocessable`` (422) with the first bad field's code
    (``invalid_national_id``, ``invalid_birth_date``, ``invalid_phone``...) and a message
    per bad field, its code in parentheses."""
    errors: dict[str, Any] = {}
    legal_name = normalize_name(data.legal_name)
    if not legal_name or len(legal_name) > 200:
        errors["legal_name"] = {
            "code": "invalid_legal_name",
            "message": "A legal name of 1 to 200 characters.",
        }
    birth_date = _as_date(data.birth_date)
    if birth_date is None:
        errors["birth_date"] = {"code": "invalid_birth_date", "message": "Not a date."}
    elif birth_date > today:
        errors["birth_date"] = {
            "code": "invalid_birth_date",
            "message": "A birth date in the future.",
        }
    elif birth_date.year < today.year - OLDEST_AGE_YEARS:
        errors["birth_date"] = {
            "code": "invalid_birth_date",
            "message": f"A birth date more than {OLDEST_AGE_YEARS} years ago.",
        }
    country = (data.national_id_country or "").upper()
    if country not in countries:
        errors["national_id_country"] = {
            "code": "invalid_country",
            "message": "An ISO 3166-1 alpha-2 country code.",
        }
        national_id = data.national_id
    else:
        national_id = _check_national_id(data.national_id or "", country, birth_date, errors)
    try:
        phone = normalize_phone(data.phone or "")
    except ValueError:
        phone = data.phone
        errors["phone"] = {
            "code": "invalid_phone",
            "message": "Not a valid phone number (E.164, like +821012345678, or a Korean "
            "number like 010-1234-5678).",
        }
    email = normalize_email(data.email or "")
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = {"code": "invalid_email", "message": "Not a valid e-mail address."}
    address = data.address
    address_country = (address.country or "").upper()
    if address_country not in countries:
        errors["address"] = {
            "code": "invalid_address",
            "message": "The address's country is an ISO 3166-1 alpha-2 code.",
        }
    elif not (address.street.strip() and address.city.strip()):
        errors["address"] = {
            "code": "invalid_address",
            "message": "An address needs a street and a city.",
        }
    if errors:
        # The first bad field's code, and every bad field's message (the usual error body).
        first = next(iter(errors.values()))
        raise Unprocessable(
            f"{first['message']} Nothing was stored.",
            code=first["code"],
            fields={name: [f"{e['message']} ({e['code']})"] for name, e in errors.items()},
        )
    assert birth_date is not None
    return PersonalData(
        legal_name=legal_name,
        birth_date=birth_date,
        national_id=national_id,
        national_id_country=country,
        phone=phone,
        email=email,
        address=Address(
            street=normalize_name(address.street),
            city=normalize_name(address.city),
            postal_code=address.postal_code.strip(),
            country=address_country,
        ),
    )
