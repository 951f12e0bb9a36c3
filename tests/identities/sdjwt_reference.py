"""The reference SD-JWT library (openwallet-foundation-labs/sd-jwt-python, PyPI ``sd-jwt``):
what these tests verify everything we emit with. None of us wrote it."""

from __future__ import annotations

import json
from typing import Any

from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier


def reference_verify(presentation: str, *, jwks: dict[str, Any], aud: str, nonce: str) -> dict:
    """The verified claims, by the reference verifier with key binding (it raises on any
    failure): the issuer key is looked up by the JWT header's kid in ``jwks``."""

    def issuer_key(issuer: str, header: dict[str, Any]) -> JWK:
        jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        return JWK.from_json(json.dumps({m: jwk[m] for m in ("kty", "crv", "x", "y")}))

    verifier = SDJWTVerifier(presentation, issuer_key, expected_aud=aud, expected_nonce=nonce)
    return verifier.get_verified_payload()
