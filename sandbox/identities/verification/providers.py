"""Two simulated Korean-flavoured social identity providers, ``sandbox-talk`` (a
messenger's login, Kakao-like) and ``sandbox-green`` (a portal's login, Naver-like). Each is
an OpenID Connect provider: it signs id_tokens (ES256) for the person a tester picks in a
simulated login, and publishes its keys (``/oidc/<provider>/jwks.json``) and a discovery
document (``/oidc/<provider>/.well-known/openid-configuration``).

No row holds a provider's private key: it is derived from the node keys' keyring
(``NODE_KEYS_MASTER_KEY``, ``sandbox.keyring``) under a purpose of its own, like the
platform's signing key (``sandbox.nodekeys.platform``). Every member of the keyring gives a
published key; the first signs.

A tenant is the relying party: its client id at both providers is ``client_id_for(tenant)``.
The subject (``sub``) is pairwise: a keyed hash of the tenant and the person, stable per
provider, telling nothing about the person."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.urls import reverse
from joserfc import jwt
from joserfc.jwk import ECKey

from sandbox.errors import ApplicationError
from sandbox.keyring import Keyring

ALG = "ES256"
ID_TOKEN_LIFETIME = timedelta(minutes=10)
_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    flavour: str

    @property
    def issuer(self) -> str:
        return settings.SANDBOX_BASE_URL.rstrip("/") + f"/oidc/{self.name}"

    @property
    def jwks_uri(self) -> str:
        path = reverse("oidc:jwks", kwargs={"provider": self.name})
        return settings.SANDBOX_BASE_URL.rstrip("/") + path


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("sandbox-talk", "Sandbox Talk", "a messenger's login (Kakao-like)"),
        Provider("sandbox-green", "Sandbox Green", "a web portal's login (Naver-like)"),
    )
}


def provider_get(name: Any) -> Provider:
    provider = PROVIDERS.get(str(name or ""))
    if provider is None:
        raise ApplicationError(
            f"Unknown identity provider {name!r}; known: {', '.join(sorted(PROVIDERS))}.",
            code="unknown_provider",
            fields={"provider": [f"One of {', '.join(sorted(PROVIDERS))}."]},
        )
    return provider


def _keyring(provider: Provider) -> Keyring:
    return Keyring.from_setting("NODE_KEYS_MASTER_KEY", purpose=f"social-idp:{provider.name}")


@cache
def _ec_key(seed: bytes) -> ECKey:
    # 32 bytes of HKDF output, reduced into [1, n-1]: a P-256 private scalar.
    scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    key = ECKey.import_key(private)
    key.ensure_kid()
    return key


def _signing_key(provider: Provider) -> ECKey:
    ring = _keyring(provider)
    return _ec_key(ring.keys[ring.primary])


def jwks(provider: Provider) -> dict[str, Any]:
    """The provider's public keys, the signing one first (what ``jwks_uri`` serves)."""
    ring = _keyring(provider)
    ordered = [ring.primary, *(key_id for key_id in ring.keys if key_id != ring.primary)]
    keys = []
    for key_id in ordered:
        public = _ec_key(ring.keys[key_id]).as_dict(private=False)
        keys.append({**public, "alg": ALG, "use": "sig"})
    return {"keys": keys}


def discovery(provider: Provider) -> dict[str, Any]:
    """The OpenID Provider metadata (OpenID Connect Discovery 1.0) of a simulated provider:
    its login is simulated (the test helper, docs/identities.md), so there is no real
    authorization or token endpoint to speak of."""
    return {
        "issuer": provider.issuer,
        "jwks_uri": provider.jwks_uri,
        "authorization_endpoint": provider.issuer + "/authorize",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [ALG],
        "scopes_supported": ["openid"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce"],
    }


def client_id_for(tenant_id: Any) -> str:
    """A tenant's client id at the simulated providers (the id_token's ``aud``)."""
    return f"fsbx-{tenant_id}"


def subject_for(provider: Provider, *, tenant_id: Any, person_id: Any) -> str:
    ring = _keyring(provider)
    message = f"{tenant_id}:{person_id}".encode()
    return hmac.new(ring.keys[ring.primary], message, hashlib.sha256).hexdigest()[:32]


def id_token_issue(
    provider: Provider,
    *,
    tenant_id: Any,
    person_id: Any,
    client_id: str,
    nonce: str,
    now: datetime,
    lifetime: timedelta = ID_TOKEN_LIFETIME,
) -> str:
    """The id_token the provider gives after the person logged in (``now``: the time of the
    node the person belongs to, so tokens follow its test clock)."""
    issued = int(now.timestamp())
    claims = {
        "iss": provider.issuer,
        "sub": subject_for(provider, tenant_id=tenant_id, person_id=person_id),
        "aud": client_id,
        "iat": issued,
        "auth_time": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "nonce": nonce,
    }
    key = _signing_key(provider)
    header = {"alg": ALG, "typ": "JWT", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=[ALG])
