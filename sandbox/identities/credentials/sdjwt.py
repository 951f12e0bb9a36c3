"""SD-JWT (RFC 9901) in the SD-JWT VC shape: issue, present with key binding, verify.

No Django here: the services give the keys, the clock and the claims. Formats:

- a Disclosure is ``base64url(JSON [salt, claim name, value])``, its digest
  ``base64url(SHA-256(ASCII(disclosure)))``, listed in the ``_sd`` array of the object
  that holds the claim (nested objects have their own ``_sd``);
- the issued credential is ``<issuer JWT>~<disclosure>~...~`` (header ``typ`` ``dc+sd-jwt``,
  ``cnf.jwk`` the holder's key);
- a presentation keeps the disclosures asked for and ends with a Key Binding JWT (header
  ``typ`` ``kb+jwt``) signed by the holder over ``aud``, ``nonce``, ``iat`` and ``sd_hash``,
  the digest of everything before it (``<issuer JWT>~<disclosure>~...~``).

Claim paths name what a presentation discloses: ``given_name``, or ``address.locality``
for a claim inside a (non-disclosable) object.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.identities.credentials import es256
from sandbox.nodekeys.algorithms import ES256
from sandbox.nodekeys.jws import JwsError, b64u, b64u_decode

TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
SD_ALG = "sha-256"
SEPARATOR = "~"
DECOYS = 2  # digests of nothing, so the number of claims does not show
KB_MAX_AGE_SECONDS = 300  # a key-binding JWT older than this (or from the future) is stale
RESERVED = frozenset({"_sd", "_sd_alg", "..."})
MAX_LENGTH = 65_536


class Invalid(ValueError):
    """A credential or presentation that does not verify; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Sd:
    """Marks a claim value as selectively disclosable."""

    value: Any


def digest(text: str) -> str:
    return b64u(hashlib.sha256(text.encode("ascii")).digest())


def _disclosure(name: str, value: Any) -> str:
    salt = b64u(secrets.token_bytes(16))
    return b64u(json.dumps([salt, name, value], ensure_ascii=False).encode())


def _pack(claims: dict[str, Any], disclosures: list[str]) -> dict[str, Any]:
    packed: dict[str, Any] = {}
    digests: list[str] = []
    for name, value in claims.items():
        if name in RESERVED:
            raise ValueError(f"{name} is reserved by SD-JWT")
        if isinstance(value, Sd):
            inner = (
                _pack(value.value, disclosures) if isinstance(value.value, dict) else value.value
            )
            disclosure = _disclosure(name, inner)
            disclosures.append(disclosure)
            digests.append(digest(disclosure))
        elif isinstance(value, dict):
            packed[name] = _pack(value, disclosures)
        else:
            packed[name] = value
    if digests:
        digests.extend(digest(b64u(secrets.token_bytes(16))) for _ in range(DECOYS))
        packed["_sd"] = sorted(digests)  # sorted: the order says nothing about the claims
    return packed


def issue(
    *,
    issuer_key: ec.EllipticCurvePrivateKey,
    kid: str,
    claims: dict[str, Any],
    holder_jwk: dict[str, Any],
) -> str:
    """The issued SD-JWT, every disclosure appended: ``<JWT>~<D1>~...~``. ``claims`` holds the
    registered claims (iss, iat, exp, vct, ...) in clear and the others wrapped in ``Sd``."""
    disclosures: list[str] = []
    payload = _pack(claims, disclosures)
    payload["_sd_alg"] = SD_ALG
    payload["cnf"] = {"jwk": holder_jwk}
    jwt = es256.sign(issuer_key, header={"typ": TYP, "kid": kid}, payload=payload)
    return SEPARATOR.join([jwt, *disclosures, ""])


@dataclass(frozen=True)
class Split:
    jwt: str
    disclosures: list[str]
    kb_jwt: str

    @property
    def sd_jwt(self) -> str:
        """What the key-binding JWT's ``sd_hash`` is computed over."""
        return SEPARATOR.join([self.jwt, *self.disclosures, ""])


def split(text: Any) -> Split:
    if not isinstance(text, str) or SEPARATOR not in text or len(text) > MAX_LENGTH:
        raise Invalid("malformed", "Not an SD-JWT: <JWT>~<disclosure>~...~<KB-JWT>.")
    jwt, *disclosures, kb_jwt = text.split(SEPARATOR)
    return Split(jwt, disclosures, kb_jwt)


def _decode_disclosure(disclosure: str) -> list[Any]:
    try:
        decoded = json.loads(b64u_decode(disclosure))
    except (ValueError, UnicodeDecodeError):
        raise Invalid("malformed", "A disclosure is not base64url JSON.") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 3
        or not isinstance(decoded[0], str)
        or not isinstance(decoded[1], str)
        or decoded[1] in RESERVED
    ):
        raise Invalid("malformed", "A disclosure must be [salt, claim name, value].")
    return decoded


def _unpack(
    obj: dict[str, Any], by_digest: dict[str, list[Any]], used: set[str], prefix: str
) -> tuple[dict[str, Any], set[str]]:
    out: dict[str, Any] = {}
    paths: set[str] = set()
    for name, value in obj.items():
        if name in ("_sd", "_sd_alg"):
            continue
        if isinstance(value, dict):
            out[name], inner = _unpack(value, by_digest, used, f"{prefix}{name}.")
            paths |= inner
        else:
            out[name] = value
    sd = obj.get("_sd", [])
    if not isinstance(sd, list):
        raise Invalid("malformed", "_sd must be an array of digests.")
    for item in sd:
        if item not in by_digest:
            continue  # a decoy, or a claim not disclosed
        if item in used:
            raise Invalid("duplicate_disclosure", "A digest appears twice in the credential.")
        used.add(item)
        _, name, value = by_digest[item]
        if name in out:
            raise Invalid("malformed", f"The claim {name} is disclosed twice.")
        if isinstance(value, dict):
            value, inner = _unpack(value, by_digest, used, f"{prefix}{name}.")
            paths |= inner
        out[name] = value
        paths.add(f"{prefix}{name}")
    return out, paths


@dataclass(frozen=True)
class Verified:
    """What a verified presentation says: the processed claims (registered claims and the
    disclosed ones), the paths disclosed, and the key-binding JWT's payload."""

    claims: dict[str, Any]
    disclosed: frozenset[str]
    header: dict[str, Any]
    key_binding: dict[str, Any]


def _check_times(payload: dict[str, Any], now: int) -> None:
    exp, nbf = payload.get("exp"), payload.get("nbf")
    if exp is not None and (not isinstance(exp, int) or now >= exp):
        raise Invalid("expired", "The credential has expired.")
    if nbf is not None and (not isinstance(nbf, int) or now < nbf):
        raise Invalid("not_yet_valid", "The credential is not valid yet.")


def verify(
    presentation: Any,
    *,
    issuer_key: Callable[[str], ec.EllipticCurvePublicKey | None],
    audience: str,
    nonce: str,
    now: datetime,
) -> Verified:
    """Verify a presentation with key binding as RFC 9901 section 7 says; ``Invalid`` tells
    the first reason it fails. ``issuer_key`` maps a kid to a published issuer key."""
    parts = split(presentation)
    try:
        jwt = es256.parse(parts.jwt)
    except JwsError as exc:
        raise Invalid("malformed", exc.message) from None
    if jwt.header.get("typ") != TYP:
        raise Invalid("wrong_type", f'The credential is not of "typ": "{TYP}".')
    kid = jwt.header.get("kid")
    key = issuer_key(kid) if isinstance(kid, str) else None
    if key is None:
        raise Invalid("unknown_issuer_key", "The credential names no key the issuer publishes.")
    if not es256.signature_valid(key, jwt):
        raise Invalid("bad_signature", "The issuer's signature does not verify.")
    payload = jwt.payload
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise Invalid("malformed", "Only the sha-256 digest algorithm is supported.")
    _check_times(payload, int(now.timestamp()))

    by_digest: dict[str, list[Any]] = {}
    for disclosure in parts.disclosures:
        key_digest = digest(disclosure)
        if key_digest in by_digest:
            raise Invalid("duplicate_disclosure", "A disclosure is sent twice.")
        by_digest[key_digest] = _decode_disclosure(disclosure)
    used: set[str] = set()
    claims, paths = _unpack(payload, by_digest, used, "")
    if used != set(by_digest):
        raise Invalid(
            "disclosure_not_in_credential",
            "A disclosure is not part of the credential the issuer signed.",
        )

    if not parts.kb_jwt:
        raise Invalid("key_binding_missing", "The presentation has no key-binding JWT.")
    holder = payload.get("cnf", {}).get("jwk") if isinstance(payload.get("cnf"), dict) else None
    try:
        holder_key = ES256.public_from_jwk(holder)
        kb = es256.parse(parts.kb_jwt)
    except JwsError:
        raise Invalid("malformed", "The holder key or the key-binding JWT is malformed.") from None
    if kb.header.get("typ") != KB_TYP:
        raise Invalid("wrong_type", f'The key-binding JWT is not of "typ": "{KB_TYP}".')
    if not es256.signature_valid(holder_key, kb):
        raise Invalid("bad_key_binding_signature", "The holder's signature does not verify.")
    if kb.payload.get("sd_hash") != digest(parts.sd_jwt):
        raise Invalid("sd_hash_mismatch", "The key-binding JWT was made for other disclosures.")
    if kb.payload.get("aud") != audience:
        raise Invalid("wrong_audience", "The presentation was made for another audience.")
    if kb.payload.get("nonce") != nonce:
        raise Invalid("wrong_nonce", "The presentation answers another request (nonce).")
    iat = kb.payload.get("iat")
    if not isinstance(iat, int) or abs(int(now.timestamp()) - iat) > KB_MAX_AGE_SECONDS:
        raise Invalid("stale_key_binding", "The key-binding JWT is too old or from the future.")
    return Verified(claims, frozenset(paths), jwt.header, kb.payload)


def disclosure_paths(issued: str) -> dict[str, str]:
    """Each claim path of an issued SD-JWT and its disclosure (the holder's view)."""
    parts = split(issued)
    payload = es256.parse(parts.jwt).payload
    by_digest = {digest(d): (d, _decode_disclosure(d)) for d in parts.disclosures}
    found: dict[str, str] = {}

    def walk(obj: dict[str, Any], prefix: str) -> None:
        for name, value in obj.items():
            if isinstance(value, dict) and name not in ("cnf",):
                walk(value, f"{prefix}{name}.")
        for item in obj.get("_sd", []):
            if item in by_digest:
                disclosure, (_, name, value) = by_digest[item]
                found[f"{prefix}{name}"] = disclosure
                if isinstance(value, dict):
                    walk(value, f"{prefix}{name}.")

    walk(payload, "")
    return found


def present(
    issued: str,
    paths: Iterable[str],
    *,
    sign_key_binding: Callable[[dict[str, Any]], str],
    audience: str,
    nonce: str,
    now: datetime,
) -> str:
    """A presentation of the disclosures named by ``paths`` (each must exist), bound by a
    key-binding JWT that ``sign_key_binding`` signs with the holder's key."""
    available = disclosure_paths(issued)
    wanted = set(paths)
    missing = wanted - set(available)
    if missing:
        raise Invalid("claims_not_in_credential", f"Not in the credential: {sorted(missing)}.")
    parts = split(issued)
    kept = [d for d in parts.disclosures if d in {available[p] for p in wanted}]
    sd_jwt = SEPARATOR.join([parts.jwt, *kept, ""])
    kb_payload = {
        "iat": int(now.timestamp()),
        "aud": audience,
        "nonce": nonce,
        "sd_hash": digest(sd_jwt),
    }
    return sd_jwt + sign_key_binding(kb_payload)


def sign_key_binding_with(key: ec.EllipticCurvePrivateKey) -> Callable[[dict[str, Any]], str]:
    def sign(payload: dict[str, Any]) -> str:
        return es256.sign(key, header={"typ": KB_TYP}, payload=payload)

    return sign
