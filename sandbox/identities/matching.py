"""Scores of a claimed value against a stored one, 0 to 100, without ever answering the value.

Bands (docs/identities.md, "Matching"): 90-100 ``match``, 70-89 ``likely``, 40-69
``unlikely``, 0-39 ``no_match``.

- Names: 100 when equal once normalized (Unicode NFKC, case, spaces and punctuation
  ignored); 95 when the same words in another order ("Minsu Kim" / "Kim Minsu"); otherwise
  the similarity of the two (Hangul compared letter by letter, as jamo), at most 89.
- Phones: 100 when the same E.164 number; 75 when one digit differs (a typo); 0 otherwise,
  or when the claim is not a phone number.
- Addresses: 0 in another country; otherwise 40 for the same postal code, 20 for the city
  and 40 for the street, each weighted by its similarity (a street that differs only in
  spacing, case or punctuation counts in full).
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

from sandbox.identities.data import Address, normalize_phone

MATCH, LIKELY, UNLIKELY, NO_MATCH = "match", "likely", "unlikely", "no_match"
BANDS = ((90, MATCH), (70, LIKELY), (40, UNLIKELY), (0, NO_MATCH))

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def band(score: int) -> str:
    for floor, name in BANDS:
        if score >= floor:
            return name
    return NO_MATCH


def _words(value: str) -> list[str]:
    text = unicodedata.normalize("NFKC", value).casefold()
    return [w for w in _NOT_WORD.split(text) if w]


def _similarity(a: str, b: str) -> float:
    # NFD splits a Hangul syllable into its jamo: "김민수" and "김민서" differ in one letter
    # of eight, not in one syllable of three.
    a, b = unicodedata.normalize("NFD", a), unicodedata.normalize("NFD", b)
    if not a and not b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def score_name(claimed: str, stored: str) -> int:
    claimed_words, stored_words = _words(claimed), _words(stored)
    if not claimed_words or not stored_words:
        return 0
    if claimed_words == stored_words:
        return 100
    if sorted(claimed_words) == sorted(stored_words):
        return 95
    if "".join(claimed_words) == "".join(stored_words):
        return 100  # "김 민수" and "김민수"
    ratio = _similarity(" ".join(claimed_words), " ".join(stored_words))
    return min(89, round(ratio * 100))


def score_phone(claimed: str, stored: str) -> int:
    try:
        a = normalize_phone(claimed)
        b = normalize_phone(stored)
    except ValueError:
        return 0
    if a == b:
        return 100
    if len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1:
        return 75
    return 0


def _compact(value: str) -> str:
    return "".join(_words(value))


def score_address(claimed: Address, stored: Address) -> int:
    if claimed.country.strip().upper() != stored.country.strip().upper():
        return 0
    postal = 40 if _compact(claimed.postal_code) == _compact(stored.postal_code) else 0
    city = 20 * _similarity(_compact(claimed.city), _compact(stored.city))
    street = 40 * _similarity(_compact(claimed.street), _compact(stored.street))
    return round(postal + city + street)
