"""SD-JWT as we emit it (sandbox.identities.credentials.sdjwt): the reference library
verifies our presentations with key binding, and our verifier and the reference one both
reject tampered disclosures, foreign disclosures, the wrong nonce or audience and forged
signatures."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jws as jose_jws
from joserfc.jwk import ECKey
from jwcrypto.jws import InvalidJWSSignature

from sandbox.identities.credentials import sdjwt
from sandbox.identities.credentials.sdjwt import Sd
from sandbox.nodekeys.algorithms import ES256
from tests.identities.sdjwt_reference import reference_verify

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
AUD = "urn:fsbx:node:courier"
NONCE = "n-0001"


class Issuer:
    def __init__(self) -> None:
        self.key = ES256.generate()
        self.jwk = ES256.public_jwk(self.key.public_key())
        self.kid = ES256.thumbprint(self.jwk)
        self.jwks = {"keys": [{**self.jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}]}

    def public(self, kid: str):
        return self.key.public_key() if kid == self.kid else None


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def holder():
    return ES256.generate()


def delivery_credential(issuer: Issuer, holder, *, exp: datetime | None = None) -> str:
    claims = {
        "iss": "https://sandbox.example",
        "iat": int(NOW.timestamp()),
        "exp": int((exp or NOW + timedelta(days=14)).timestamp()),
        "vct": "urn:fsbx:vct:delivery:1",
        "name": Sd("김민수"),
        "order_id": Sd("ORD-1"),
        "address": {
            "street_address": Sd("테헤란로 152"),
            "locality": Sd("서울특별시 강남구"),
            "postal_code": Sd("06236"),
            "country": Sd("KR"),
        },
        "recipient_matches_delivery_address": Sd(True),
    }
    return sdjwt.issue(
        issuer_key=issuer.key,
        kid=issuer.kid,
        claims=claims,
        holder_jwk=ES256.public_jwk(holder.public_key()),
    )


COURIER_PATHS = [
    "recipient_matches_delivery_address",
    "order_id",
    "address.street_address",
    "address.locality",
    "address.postal_code",
    "address.country",
]


def present(issued: str, holder, *, aud: str = AUD, nonce: str = NONCE, paths=None) -> str:
    return sdjwt.present(
        issued,
        COURIER_PATHS if paths is None else paths,
        sign_key_binding=sdjwt.sign_key_binding_with(holder),
        audience=aud,
        nonce=nonce,
        now=NOW,
    )


def ours(presentation: str, issuer: Issuer, *, aud: str = AUD, nonce: str = NONCE):
    return sdjwt.verify(presentation, issuer_key=issuer.public, audience=aud, nonce=nonce, now=NOW)


def reason(presentation: str, issuer: Issuer, **kwargs) -> str:
    with pytest.raises(sdjwt.Invalid) as caught:
        ours(presentation, issuer, **kwargs)
    return caught.value.reason


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_reference_library_verifies_a_courier_presentation_with_key_binding(issuer, holder):
    presentation = present(delivery_credential(issuer, holder), holder)

    claims = reference_verify(presentation, jwks=issuer.jwks, aud=AUD, nonce=NONCE)

    assert claims["recipient_matches_delivery_address"] is True
    assert claims["order_id"] == "ORD-1"
    assert claims["address"] == {
        "street_address": "테헤란로 152",
        "locality": "서울특별시 강남구",
        "postal_code": "06236",
        "country": "KR",
    }
    assert "name" not in claims
    assert claims == {k: v for k, v in ours(presentation, issuer).claims.items()}


def test_only_the_claims_asked_for_are_in_the_presentation(issuer, holder):
    issued = delivery_credential(issuer, holder)

    presentation = present(issued, holder, paths=["recipient_matches_delivery_address"])

    verified = ours(presentation, issuer)
    assert verified.disclosed == {"recipient_matches_delivery_address"}
    assert "김민수" not in json.dumps(verified.claims, ensure_ascii=False)
    # Two disclosures fewer than issued would still show the name: none of them carries it.
    disclosures = sdjwt.split(presentation).disclosures
    assert len(disclosures) == 1
    assert "김민수".encode() not in base64.urlsafe_b64decode(disclosures[0] + "==")
    assert reference_verify(presentation, jwks=issuer.jwks, aud=AUD, nonce=NONCE)[
        "recipient_matches_delivery_address"
    ]


def test_the_issued_jwt_is_a_standard_es256_jws_with_the_sd_jwt_vc_header(issuer, holder):
    issued = delivery_credential(issuer, holder)
    jwt = sdjwt.split(issued).jwt

    # joserfc, an independent JOSE library, checks our ES256 signature and the JWK.
    key = ECKey.import_key({**issuer.jwk})
    token = jose_jws.deserialize_compact(jwt, key, algorithms=["ES256"])
    assert token.headers() == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": issuer.kid}
    assert key.thumbprint() == issuer.kid
    payload = json.loads(token.payload)
    assert payload["_sd_alg"] == "sha-256"
    assert payload["cnf"]["jwk"] == ES256.public_jwk(holder.public_key())
    assert "name" not in payload and "order_id" not in payload


def test_a_tampered_disclosure_is_rejected_by_both(issuer, holder):
    presentation = present(delivery_credential(issuer, holder), holder)
    parts = presentation.split("~")
    for i, disclosure in enumerate(parts[1:-1], start=1):
        salt, name, _ = json.loads(base64.urlsafe_b64decode(disclosure + "=="))
        if name == "locality":
            parts[i] = b64(json.dumps([salt, name, "부산광역시 해운대구"]).encode())
    tampered = "~".join(parts)

    assert reason(tampered, issuer) == "disclosure_not_in_credential"
    with pytest.raises(ValueError, match="digest"):
        reference_verify(tampered, jwks=issuer.jwks, aud=AUD, nonce=NONCE)


def test_a_disclosure_from_another_credential_is_rejected_by_both(issuer, holder):
    issued = delivery_credential(issuer, holder)
    other = delivery_credential(issuer, holder)
    name = sdjwt.disclosure_paths(other)["name"]
    honest = present(issued, holder)
    jwt, *disclosures, _ = honest.split("~")
    # The holder re-signs the key binding over the extra disclosure: only the issuer's
    # digests can catch it.
    smuggled_sd_jwt = "~".join([jwt, *disclosures, name, ""])
    kb = sdjwt.sign_key_binding_with(holder)(
        {
            "iat": int(NOW.timestamp()),
            "aud": AUD,
            "nonce": NONCE,
            "sd_hash": sdjwt.digest(smuggled_sd_jwt),
        }
    )
    smuggled = smuggled_sd_jwt + kb

    assert reason(smuggled, issuer) == "disclosure_not_in_credential"
    # The reference verifier ignores a disclosure it has no digest for: the name never
    # reaches the verified claims.
    assert "name" not in reference_verify(smuggled, jwks=issuer.jwks, aud=AUD, nonce=NONCE)


def test_the_wrong_nonce_or_audience_is_rejected_by_both(issuer, holder):
    presentation = present(delivery_credential(issuer, holder), holder)

    assert reason(presentation, issuer, nonce="n-0002") == "wrong_nonce"
    assert reason(presentation, issuer, aud="urn:fsbx:node:mallory") == "wrong_audience"
    with pytest.raises(ValueError, match="nonce"):
        reference_verify(presentation, jwks=issuer.jwks, aud=AUD, nonce="n-0002")
    with pytest.raises(ValueError, match="audience"):
        reference_verify(presentation, jwks=issuer.jwks, aud="urn:fsbx:node:mallory", nonce=NONCE)


def test_a_forged_issuer_signature_is_rejected_by_both(issuer, holder):
    forger = Issuer()
    forger.kid = issuer.kid  # claims to be the platform's key
    forged = present(delivery_credential(forger, holder), holder)

    assert reason(forged, issuer) == "bad_signature"
    with pytest.raises(InvalidJWSSignature):
        reference_verify(forged, jwks=issuer.jwks, aud=AUD, nonce=NONCE)


def test_a_key_binding_by_another_key_is_rejected_by_both(issuer, holder):
    thief = ES256.generate()
    stolen = present(delivery_credential(issuer, holder), thief)

    assert reason(stolen, issuer) == "bad_key_binding_signature"
    with pytest.raises(InvalidJWSSignature):
        reference_verify(stolen, jwks=issuer.jwks, aud=AUD, nonce=NONCE)


def test_a_presentation_without_key_binding_is_refused(issuer, holder):
    presentation = present(delivery_credential(issuer, holder), holder)
    unbound = presentation[: presentation.rindex("~") + 1]

    assert reason(unbound, issuer) == "key_binding_missing"


def test_an_expired_credential_is_refused(issuer, holder):
    old = delivery_credential(issuer, holder, exp=NOW - timedelta(seconds=1))

    assert reason(present(old, holder), issuer) == "expired"


def test_an_unknown_issuer_key_and_garbage_are_refused(issuer, holder):
    stranger = Issuer()
    presentation = present(delivery_credential(stranger, holder), holder)

    assert reason(presentation, issuer) == "unknown_issuer_key"
    assert reason("not an sd-jwt", issuer) == "malformed"
    assert reason("a.b.c~~", issuer) == "malformed"


def test_asking_for_a_claim_the_credential_lacks_is_refused(issuer, holder):
    with pytest.raises(sdjwt.Invalid) as caught:
        present(delivery_credential(issuer, holder), holder, paths=["birthdate"])
    assert caught.value.reason == "claims_not_in_credential"
