"""The relying party's side: the platform verifies a provider's id_token with joserfc
before it links the account (OpenID Connect Core 1.0, section 3.1.3.7): the signature by a
key of the provider's JWKS (ES256 only: no ``none``, no HMAC), ``iss`` the provider,
``aud`` the tenant's client id, ``exp`` not passed and ``iat`` not ahead (on the node's
clock), and ``nonce`` the one this link issued. Each refusal has a code of its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from sandbox.errors import ApplicationError
from sandbox.identities.verification import providers

LEEWAY_SECONDS = 30


def _refuse(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, code=code, fields={"id_token": [message]})


def id_token_verify(
    provider: providers.Provider, *, id_token: str, client_id: str, nonce: str, now: datetime
) -> dict[str, Any]:
    """The verified claims, or a 400 saying what is wrong (``id_token_*`` codes)."""
    keys = KeySet.import_key_set(providers.jwks(provider))  # type: ignore[arg-type]
    try:
        token = jwt.decode(id_token, keys, algorithms=[providers.ALG])
    except BadSignatureError:
        raise _refuse(
            "id_token_bad_signature", "The id_token's signature does not verify."
        ) from None
    except InvalidKeyIdError:
        raise _refuse(
            "id_token_unknown_key", "No key of the provider's JWKS has the id_token's kid."
        ) from None
    except JoseError as error:
        raise _refuse(
            "id_token_malformed", f"The id_token cannot be read: {error.description}"
        ) from None
    except (ValueError, TypeError):
        raise _refuse("id_token_malformed", "The id_token is not a compact JWS.") from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise _refuse("id_token_expired", "The id_token has expired.") from None
    except MissingClaimError as error:
        raise _refuse(
            "id_token_claim_missing", f"The id_token lacks a claim: {error.description}"
        ) from None
    except InvalidClaimError as error:
        claim = error.claim
        code = {
            "iss": "id_token_wrong_issuer",
            "aud": "id_token_wrong_audience",
            "nonce": "id_token_wrong_nonce",
            "iat": "id_token_issued_in_future",
        }.get(claim, "id_token_invalid_claim")
        raise _refuse(code, f"The id_token's claim {claim or '?'} is not right.") from None
    except JoseError as error:
        raise _refuse(
            "id_token_invalid_claim", f"The id_token is refused: {error.description}"
        ) from None
    return dict(claims)
