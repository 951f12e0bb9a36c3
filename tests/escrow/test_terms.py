"""The terms' canonical form and hash, checked with libraries we did not write: the
canonical bytes are what matrix-org's ``canonicaljson`` makes of the same object (for
strings and integers it and RFC 8785 agree), and the hash is ``hashlib``'s SHA-256."""

from __future__ import annotations

import hashlib
import json

import canonicaljson
import pytest

from wallets.escrow.terms import canonical, release_fee, terms_hash

pytestmark = pytest.mark.django_db


def test_the_hash_is_sha256_of_the_canonical_terms_as_an_outside_library_writes_them(world):
    escrow = world.escrow(description='Café — 자전거 "used"')
    stored = escrow.terms

    independent = canonicaljson.encode_canonical_json(stored)

    assert canonical(stored) == independent
    assert escrow.terms_hash == hashlib.sha256(independent).hexdigest()
    # Key order or whitespace in a copy of the terms do not change the hash.
    shuffled = json.loads(json.dumps(dict(reversed(list(stored.items()))), indent=4))
    assert terms_hash(shuffled) == escrow.terms_hash


def test_any_change_of_a_term_changes_the_hash(world):
    terms = world.escrow().terms
    for key, value in [("amount", "10001"), ("on_timeout", "release"), ("description", "x")]:
        assert terms_hash({**terms, key: value}) != terms_hash(terms)


def test_the_rfc_8785_example_of_sorted_keys():
    assert canonical({"b": 1, "a": "\u20ac", "c": {"z": [], "y": 0}}) == (
        '{"a":"€","b":1,"c":{"y":0,"z":[]}}'.encode()
    )


@pytest.mark.parametrize(
    "amount,bps,fixed,first,fee",
    [
        (10_000, 250, 100, True, 350),
        (10_000, 250, 100, False, 250),
        (399, 250, 0, True, 9),
        (50, 0, 100, True, 50),
        (7, 10_000, 0, False, 7),
    ],
)
def test_the_fee_is_the_rate_rounded_down_plus_the_first_fixed_fee_capped_at_the_release(
    amount, bps, fixed, first, fee
):
    assert release_fee(amount=amount, fee_rate_bps=bps, fixed_fee=fixed, first_release=first) == fee
