"""The platform's signing-key types, one place per algorithm: how a key is made, how its
private half is serialized to rest sealed (and loaded back), its public JWK and RFC 7638
thumbprint, and how a public JWK a tenant sends is checked.

- ``ED25519`` (EdDSA, RFC 8037): the node keys (``sandbox.nodekeys``) and the platform's
  own key (``platform``).
- ``ES256`` (ECDSA P-256, RFC 7518 3.4): the credential issuer's and holders' keys, the
  algorithm every SD-JWT library verifies (``sandbox.identities.credentials``).

Private halves are serialized as they always were, the raw 32-byte Ed25519 seed and the
32-byte big-endian P-256 scalar, so the sealed keys already stored open unchanged. The JWS
made with each key lives next to its users (``jws`` for EdDSA, ``credentials.es256``).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sandbox.nodekeys import jws
from sandbox.nodekeys.jws import JwsError, b64u, b64u_decode, canonical_json

PrivateT = TypeVar("PrivateT")
PublicT = TypeVar("PublicT")


class KeyAlgorithm(ABC, Generic[PrivateT, PublicT]):
    """One JOSE signing algorithm and its key type."""

    alg: str
    kty: str
    crv: str
    coordinates: tuple[str, ...]  # the public members besides kty and crv (RFC 7638 order)
    bad_point: str  # what to say of coordinates that make no key

    @abstractmethod
    def generate(self) -> PrivateT: ...

    @abstractmethod
    def public_key(self, private: PrivateT) -> PublicT: ...

    @abstractmethod
    def private_bytes(self, private: PrivateT) -> bytes:
        """The private half as it rests sealed."""

    @abstractmethod
    def load_private(self, raw: bytes) -> PrivateT: ...

    @abstractmethod
    def public_jwk(self, public: PublicT) -> dict[str, str]:
        """The JWK of a public key, its required members only."""

    @abstractmethod
    def _load_public(self, jwk: dict[str, Any]) -> PublicT:
        """The key of a JWK's coordinates; ``ValueError`` when they make none."""

    def thumbprint(self, jwk: dict[str, Any]) -> str:
        """RFC 7638: SHA-256 of the required members, in lexicographic order."""
        members = {name: jwk[name] for name in ("crv", "kty", *self.coordinates)}
        return b64u(hashlib.sha256(canonical_json(members)).digest())

    def public_from_jwk(self, jwk: Any) -> PublicT:
        """The public key of a JWK a client sent; refuses private or other keys
        (``JwsError`` ``invalid_jwk``)."""
        if not isinstance(jwk, dict):
            raise JwsError("invalid_jwk", "The key must be a JWK object.")
        if jwk.get("kty") != self.kty or jwk.get("crv") != self.crv:
            raise JwsError(
                "invalid_jwk", f'Only {self.crv} keys ("kty": "{self.kty}", "crv": "{self.crv}").'
            )
        if "d" in jwk:
            raise JwsError(
                "invalid_jwk", "Send the public key only: the JWK has a private part (d)."
            )
        if jwk.get("alg", self.alg) != self.alg or jwk.get("use", "sig") != "sig":
            raise JwsError(
                "invalid_jwk", f'The key must be for signatures with "alg": "{self.alg}".'
            )
        try:
            return self._load_public(jwk)
        except ValueError:
            raise JwsError("invalid_jwk", self.bad_point) from None

    def _coordinate(self, jwk: dict[str, Any], name: str, length: int) -> bytes:
        raw = b64u_decode(str(jwk.get(name, "")))
        if len(raw) != length:
            raise ValueError(f"{name} has the wrong length")
        return raw


class Ed25519Algorithm(KeyAlgorithm[Ed25519PrivateKey, Ed25519PublicKey]):
    alg = jws.ALG
    kty = "OKP"
    crv = "Ed25519"
    coordinates = ("x",)
    bad_point = "x must be a 32-byte Ed25519 key in base64url."
    KEY_BYTES = 32

    def generate(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.generate()

    def public_key(self, private: Ed25519PrivateKey) -> Ed25519PublicKey:
        return private.public_key()

    def private_bytes(self, private: Ed25519PrivateKey) -> bytes:
        return private.private_bytes_raw()

    def load_private(self, raw: bytes) -> Ed25519PrivateKey:
        # Any 32 bytes are a seed (RFC 8032 hashes it into the scalar): HKDF output too.
        return Ed25519PrivateKey.from_private_bytes(raw)

    def public_jwk(self, public: Ed25519PublicKey) -> dict[str, str]:
        return self.raw_public_jwk(public.public_bytes_raw())

    def raw_public_jwk(self, raw: bytes) -> dict[str, str]:
        """The JWK of a raw public key, as the node keys store it."""
        return {"kty": self.kty, "crv": self.crv, "x": b64u(raw)}

    def raw_public(self, jwk: dict[str, Any]) -> bytes:
        """The raw public key of a checked JWK (``public_jwk``'s or ``public_from_jwk``'s)."""
        return b64u_decode(jwk["x"])

    def _load_public(self, jwk: dict[str, Any]) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self._coordinate(jwk, "x", self.KEY_BYTES))


class Es256Algorithm(KeyAlgorithm[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]):
    alg = "ES256"
    kty = "EC"
    crv = "P-256"
    coordinates = ("x", "y")
    bad_point = "x and y must be a point of P-256 in base64url."
    COORDINATE_BYTES = 32

    def generate(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def public_key(self, private: ec.EllipticCurvePrivateKey) -> ec.EllipticCurvePublicKey:
        return private.public_key()

    def private_bytes(self, private: ec.EllipticCurvePrivateKey) -> bytes:
        return private.private_numbers().private_value.to_bytes(self.COORDINATE_BYTES, "big")

    def load_private(self, raw: bytes) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())

    def public_jwk(self, public: ec.EllipticCurvePublicKey) -> dict[str, str]:
        numbers = public.public_numbers()
        return {
            "kty": self.kty,
            "crv": self.crv,
            "x": b64u(numbers.x.to_bytes(self.COORDINATE_BYTES, "big")),
            "y": b64u(numbers.y.to_bytes(self.COORDINATE_BYTES, "big")),
        }

    def _load_public(self, jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
        x, y = (self._coordinate(jwk, name, self.COORDINATE_BYTES) for name in ("x", "y"))
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        )
        return numbers.public_key()


ED25519 = Ed25519Algorithm()
ES256 = Es256Algorithm()
