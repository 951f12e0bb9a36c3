"""The issuer's signing keys and the nodes' holder keys (both ES256, P-256).

Issuer keys: one active at a time (a partial unique index), made on first use; rotation
retires it and makes a new one in one transaction; the JWKS lists every key, the active
one first, so credentials signed by a retired key keep verifying offline. Holder keys
follow the node keys' rules (``sandbox.nodekeys``): one active per node, held by the
platform (sealed) or registered by the tenant, who then signs its presentations itself.

Private halves are sealed like the node keys': AES-256-GCM under the node keys' keyring
(``NODE_KEYS_MASTER_KEY``, ``sandbox.keyring``), each purpose its own HKDF salt, and the
associated data naming the key, so a copied blob does not open as another key.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import IntegrityError, transaction

from sandbox import clock
from sandbox.errors import Conflict
from sandbox.identities.credentials import es256
from sandbox.identities.credentials.models import HolderKey, IssuerKey, KeyStatus
from sandbox.keyring import Keyring
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor, audit_record

ISSUER_PURPOSE = "credential-issuer-keys"
HOLDER_PURPOSE = "credential-holder-keys"


def _keyring(purpose: str) -> Keyring:
    return Keyring.from_secrets(
        purpose=purpose,
        secrets=list(getattr(settings, "NODE_KEYS_MASTER_KEY", None) or []),
        legacy_secret=str(settings.SECRET_KEY),
    )


def _aad(owner: Any, kid: str) -> bytes:
    return f"{owner}:{kid}".encode()


def jwk_json(public_jwk: dict[str, Any], *, kid: str, status: str) -> dict[str, Any]:
    return {**public_jwk, "kid": kid, "alg": es256.ALG, "use": "sig", "status": status}


# --- Issuer keys ------------------------------------------------------------------------------


def _new_issuer_key() -> IssuerKey:
    private = es256.generate()
    public = es256.public_jwk(private.public_key())
    kid = es256.thumbprint(public)
    key_id, sealed = _keyring(ISSUER_PURPOSE).seal(
        es256.private_bytes(private), aad=_aad("issuer", kid)
    )
    key = IssuerKey(
        kid=kid,
        public_jwk=public,
        sealed_private_key=sealed,
        sealing_key_id=key_id,
        created_at=clock.now(),
    )
    key.save(force_insert=True)
    return key


def issuer_key_current() -> IssuerKey:
    """The active issuer key, made now on first use."""
    key = IssuerKey.objects.filter(status=KeyStatus.ACTIVE).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            return _new_issuer_key()
    except IntegrityError:  # made concurrently: the partial unique index decided
        return IssuerKey.objects.get(status=KeyStatus.ACTIVE)


@transaction.atomic
def issuer_key_rotate() -> IssuerKey:
    """Retire the active issuer key (it stays published) and make a new one."""
    current = IssuerKey.objects.select_for_update().filter(status=KeyStatus.ACTIVE).first()
    if current is not None:
        current.status = KeyStatus.RETIRED
        current.retired_at = clock.now()
        current.save(update_fields=["status", "retired_at"])
    return _new_issuer_key()


def issuer_private(key: IssuerKey) -> ec.EllipticCurvePrivateKey:
    raw = _keyring(ISSUER_PURPOSE).open(
        key.sealing_key_id, bytes(key.sealed_private_key), aad=_aad("issuer", key.kid)
    )
    return es256.private_from_bytes(raw)


def issuer_jwks() -> dict[str, Any]:
    """Every issuer key, the active one first: what ``/jwks/issuer.json`` publishes."""
    issuer_key_current()
    keys = IssuerKey.objects.order_by("status", "-created_at")
    return {"keys": [jwk_json(k.public_jwk, kid=k.kid, status=k.status) for k in keys]}


def issuer_public(kid: str) -> ec.EllipticCurvePublicKey | None:
    """A published issuer key by kid (retired ones too), for verification."""
    key = IssuerKey.objects.filter(kid=kid).first()
    return es256.public_key_from_jwk(key.public_jwk) if key is not None else None


# --- Holder keys ------------------------------------------------------------------------------


def _new_holder_key(node: Node) -> HolderKey:
    private = es256.generate()
    public = es256.public_jwk(private.public_key())
    kid = es256.thumbprint(public)
    key_id, sealed = _keyring(HOLDER_PURPOSE).seal(
        es256.private_bytes(private), aad=_aad(node.pk, kid)
    )
    key = HolderKey(
        node=node,
        kid=kid,
        public_jwk=public,
        origin=HolderKey.Origin.PLATFORM,
        sealed_private_key=sealed,
        sealing_key_id=key_id,
        created_at=clock.now(node_id=node.pk),
    )
    key.save(force_insert=True)
    return key


def holder_key_current(*, node: Node) -> HolderKey:
    """The node's active holder key, made now (held by the platform) on first use."""
    key = HolderKey.objects.filter(node=node, status=KeyStatus.ACTIVE).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            return _new_holder_key(node)
    except IntegrityError:
        return HolderKey.objects.get(node=node, status=KeyStatus.ACTIVE)


def _retire_holder_key(node: Node) -> HolderKey | None:
    current = (
        HolderKey.objects.select_for_update().filter(node=node, status=KeyStatus.ACTIVE).first()
    )
    if current is not None:
        current.status = KeyStatus.RETIRED
        current.retired_at = clock.now(node_id=node.pk)
        current.save(update_fields=["status", "retired_at"])
    return current


@transaction.atomic
def holder_key_register(*, node: Node, actor: Actor, jwk: Any) -> HolderKey:
    """Make the tenant's own P-256 public key the node's holder key: credentials issued
    from now on are bound to it, and the tenant signs their key-binding JWTs itself."""
    if not node.is_active:
        raise Conflict("A deactivated node's keys cannot change.", code="node_inactive")
    try:
        public = es256.public_jwk(es256.public_key_from_jwk(jwk))
    except es256.Es256Error as exc:
        raise Conflict(exc.message, code=exc.code, status_code=400) from None
    kid = es256.thumbprint(public)
    if HolderKey.objects.filter(kid=kid).exists():
        raise Conflict("This key is already registered.", code="key_already_registered")
    old = _retire_holder_key(node)
    key = HolderKey.objects.create(
        node=node,
        kid=kid,
        public_jwk=public,
        origin=HolderKey.Origin.TENANT,
        created_at=clock.now(node_id=node.pk),
    )
    audit_record(
        actor=actor,
        action="holder_key.registered",
        tenant=node.tenant,
        target=node,
        data={"kid": kid, "retired_kid": old.kid if old else None},
    )
    return key


@transaction.atomic
def holder_key_rotate(*, node: Node, actor: Actor) -> HolderKey:
    """A new platform-held holder key for the node (back from a registered one, too)."""
    if not node.is_active:
        raise Conflict("A deactivated node's keys cannot change.", code="node_inactive")
    old = _retire_holder_key(node)
    key = _new_holder_key(node)
    audit_record(
        actor=actor,
        action="holder_key.rotated",
        tenant=node.tenant,
        target=node,
        data={"kid": key.kid, "retired_kid": old.kid if old else None},
    )
    return key


def holder_private(key: HolderKey) -> ec.EllipticCurvePrivateKey:
    """The private half of a platform-held holder key (409 ``node_signs_outside`` when
    the tenant holds it)."""
    if key.origin != HolderKey.Origin.PLATFORM or key.sealed_private_key is None:
        raise Conflict(
            "This node holds its credentials with its own registered key: make the "
            "presentation yourself and submit it.",
            code="node_signs_outside",
        )
    raw = _keyring(HOLDER_PURPOSE).open(
        key.sealing_key_id, bytes(key.sealed_private_key), aad=_aad(key.node_id, key.kid)
    )
    return es256.private_from_bytes(raw)


def holder_key_json(key: HolderKey) -> dict[str, Any]:
    return {
        **jwk_json(key.public_jwk, kid=key.kid, status=key.status),
        "origin": key.origin,
        "created_at": key.created_at.isoformat(),
    }
