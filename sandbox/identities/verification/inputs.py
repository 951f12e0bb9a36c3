"""What a tester submits to a verification session, checked before anything changes: a
national id's format and checksum (python-stdnum), a phone number in E.164, real calendar
dates. Each refusal is a 400 with its own code (docs/identities.md)."""

from __future__ import annotations

import importlib
import re
from datetime import date
from typing import Any

from stdnum.exceptions import ValidationError as StdnumError

from sandbox.errors import ApplicationError

# The national ids we check, by ISO country: the python-stdnum module that knows its format
# and checksum. "KR" is a resident registration number (주민등록번호).
NATIONAL_ID_MODULES = {
    "KR": "stdnum.kr.rrn",
    "US": "stdnum.us.ssn",
    "CN": "stdnum.cn.ric",
    "BR": "stdnum.br.cpf",
    "IN": "stdnum.in_.aadhaar",
    "SE": "stdnum.se.personnummer",
}
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
PHONE_CODE = re.compile(r"^[0-9]{6}$")


def national_id_clean(value: Any, country: Any) -> tuple[str, str]:
    """The national id without separators, and its country; 400 when either is wrong."""
    country = str(country or "").strip().upper()
    module_name = NATIONAL_ID_MODULES.get(country)
    if module_name is None:
        raise ApplicationError(
            f"National ids of {country or '(none)'} are not supported; supported: "
            f"{', '.join(sorted(NATIONAL_ID_MODULES))}.",
            code="unsupported_national_id_country",
            fields={"national_id_country": ["Unsupported country."]},
        )
    module = importlib.import_module(module_name)
    try:
        compact = module.validate(str(value or ""))
    except StdnumError as error:
        raise ApplicationError(
            f"This is not a valid national id of {country}: {error}",
            code="invalid_national_id",
            fields={"national_id": [str(error)]},
        ) from None
    return str(compact), country


def national_id_compact(value: Any, country: str) -> str:
    """A stored national id in the compact form ``national_id_clean`` gives (no check)."""
    module_name = NATIONAL_ID_MODULES.get(country)
    if module_name is None:
        return ""
    return str(importlib.import_module(module_name).compact(str(value or "")))


def phone_clean(value: Any) -> str:
    phone = re.sub(r"[\s\-()]", "", str(value or ""))
    if not E164.match(phone):
        raise ApplicationError(
            "A phone number is written in E.164: a plus sign, the country code, the number "
            "(+821012345678).",
            code="invalid_phone",
            fields={"phone": ["E.164, e.g. +821012345678."]},
        )
    return phone


def phone_code_clean(value: Any) -> str:
    code = str(value or "").strip()
    if not PHONE_CODE.match(code):
        raise ApplicationError(
            "The code has six digits.", code="invalid_code", fields={"code": ["Six digits."]}
        )
    return code


def date_clean(value: Any, *, field: str, today: date, past: bool) -> date:
    """An ISO date that exists on the calendar; ``past``: not after ``today`` (a birth date),
    else any date (an expiry). A birth date before 1900 is not one either."""
    try:
        parsed = date.fromisoformat(str(value or ""))
    except ValueError:
        raise ApplicationError(
            f"{field} is not a date of the calendar (YYYY-MM-DD).",
            code=f"invalid_{field}",
            fields={field: ["A real date, YYYY-MM-DD."]},
        ) from None
    if past and not (date(1900, 1, 1) <= parsed <= today):
        raise ApplicationError(
            f"{field} must lie between 1900-01-01 and today.",
            code=f"invalid_{field}",
            fields={field: ["Between 1900-01-01 and today."]},
        )
    return parsed
