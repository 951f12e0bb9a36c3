"""Masked forms of personal values: enough to recognize a record, not to learn the value.

"김민수" → "김*수", "Jane Doe" → "J*** D**", "+821012345678" → "+82 10-****-5678",
"minsu.kim@example.com" → "m*******@example.com", an RRN → "900101-1******".
"""

from __future__ import annotations

import phonenumbers


def mask_name(value: str) -> str:
    words = value.split()
    if len(words) == 1 and len(value) >= 2 and not value.isascii():
        # A Korean (or other CJK) name: keep the first and last characters.
        if len(value) == 2:
            return value[0] + "*"
        return value[0] + "*" * (len(value) - 2) + value[-1]
    return " ".join(word[0] + "*" * (len(word) - 1) for word in words)


def mask_phone(e164: str) -> str:
    """The country code and the last four digits; the middle starred, in national layout."""
    try:
        number = phonenumbers.parse(e164, None)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        country = f"+{number.country_code}"
    except phonenumbers.NumberParseException:
        return "*" * max(len(e164) - 4, 0) + e164[-4:]
    if national.startswith("0"):
        national = national[1:]
    digits_seen = sum(ch.isdigit() for ch in national)
    keep_from = digits_seen - 4
    first_group_end = next(
        (i for i, ch in enumerate(national) if not ch.isdigit() and i > 0), len(national)
    )
    out, index = [], 0
    for position, ch in enumerate(national):
        if ch.isdigit():
            out.append(ch if position < first_group_end or index >= keep_from else "*")
            index += 1
        else:
            out.append(ch)
    return f"{country} {''.join(out)}"


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return (local[:1] + "*" * max(len(local) - 1, 1)) + "@" + domain


def mask_national_id(value: str, country: str) -> str:
    if country == "KR" and len(value) == 13:
        return f"{value[:6]}-{value[6]}******"
    return "*" * max(len(value) - 3, 0) + value[-3:]


def mask_text(value: str) -> str:
    """A street line: its first word, the rest starred."""
    words = value.split()
    if not words:
        return ""
    return " ".join([words[0], *("*" * len(word) for word in words[1:])])
