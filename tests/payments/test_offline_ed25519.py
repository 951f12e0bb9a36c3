"""The receipt verifier's pure-Python Ed25519 (RFC 8032) agrees with ``cryptography``."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.verify_receipt import ed25519_verify

# RFC 8032, section 7.1, TEST 1 (the empty message).
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_rfc_8032_test_vector_1():
    assert ed25519_verify(RFC_PUBLIC, b"", RFC_SIGNATURE)
    assert not ed25519_verify(RFC_PUBLIC, b"x", RFC_SIGNATURE)


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=300), flip=st.integers(min_value=0, max_value=64 * 8 - 1))
def test_it_accepts_what_cryptography_signs_and_nothing_changed(message, flip):
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    signature = private.sign(message)
    assert ed25519_verify(public, message, signature)
    bad = bytearray(signature)
    bad[flip // 8] ^= 1 << (flip % 8)
    assert not ed25519_verify(public, message, bytes(bad))
    assert not ed25519_verify(public, message + b"!", signature)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not ed25519_verify(other, message, signature)


def test_malformed_keys_and_signatures_are_refused():
    assert not ed25519_verify(RFC_PUBLIC[:31], b"", RFC_SIGNATURE)
    assert not ed25519_verify(RFC_PUBLIC, b"", RFC_SIGNATURE[:63])
    assert not ed25519_verify(b"\xff" * 32, b"", RFC_SIGNATURE)  # y >= p: not a point
    # s >= L (a malleated signature): refused as RFC 8032 requires.
    s = (
        int.from_bytes(RFC_SIGNATURE[32:], "little")
        + 2**252
        + 27742317777372353535851937790883648493
    )
    assert not ed25519_verify(RFC_PUBLIC, b"", RFC_SIGNATURE[:32] + s.to_bytes(32, "little"))
    assert not ed25519_verify(RFC_PUBLIC, os.urandom(8), RFC_SIGNATURE)
