"""The platform's own signing key: published as a JWKS, derived from the keyring (the first
member signs, every member stays published), and its detached JWS checked by joserfc."""

from __future__ import annotations

import hashlib

import pytest
from joserfc import jws as jose_jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from sandbox.nodekeys import platform

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]
TYP = "fsbx.test+jws"


def _verify(compact: str, content: bytes, jwks: dict) -> dict:
    keys = KeySet.import_key_set(
        {"keys": [{k: key[k] for k in ("kty", "crv", "x", "kid")} for key in jwks["keys"]]}
    )
    return jose_jws.deserialize_compact(
        compact, keys, algorithms=["EdDSA"], payload=content
    ).headers()


def test_the_platform_jwks_is_public_and_verifies_a_detached_signature(anonymous):
    digest = hashlib.sha256(b"a,b\n1,2\n").digest()
    compact = platform.platform_sign_detached(typ=TYP, content=digest)
    header, empty, _ = compact.split(".")
    assert header and empty == ""
    response = anonymous.get("/jwks/platform.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    jwks = response.json()
    assert all("d" not in key for key in jwks["keys"])
    headers = _verify(compact, digest, jwks)
    assert headers["typ"] == TYP and headers["kid"] == jwks["keys"][0]["kid"]
    with pytest.raises(BadSignatureError):
        _verify(compact, hashlib.sha256(b"a,b\n1,3\n").digest(), jwks)


def test_a_new_master_key_signs_and_the_old_key_stays_published(settings):
    settings.NODE_KEYS_MASTER_KEY = ["a" * 40]
    old = platform.platform_jwks()["keys"][0]
    content = b"x" * 32
    signed_before = platform.platform_sign_detached(typ=TYP, content=content)
    settings.NODE_KEYS_MASTER_KEY = ["b" * 40, "a" * 40]
    keys = platform.platform_jwks()["keys"]
    assert keys[0]["kid"] != old["kid"] and keys[0]["status"] == "active"
    assert {"kid": old["kid"], "status": "retired"}.items() <= keys[1].items()
    _verify(signed_before, content, {"keys": keys})
    assert (
        jose_jws.extract_compact(
            platform.platform_sign_detached(typ=TYP, content=content).encode(),
            payload=content,
        ).headers()["kid"]
        == keys[0]["kid"]
    )
