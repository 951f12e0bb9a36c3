"""The one service for signing keys at rest, whatever their algorithm (``algorithms``) and
whoever they belong to (a ``models.SigningKey``): the nodes' Ed25519 keys, the credential
issuer's and the nodes' holder ES256 keys (``sandbox.identities.credentials.keys``).

- A key the platform holds is made by its model's algorithm; its private half rests sealed
  under the model's purpose of the ``NODE_KEYS_MASTER_KEY`` keyring (``sandbox.keyring``,
  AES-256-GCM), the associated data ``<owner>:<kid>``, so a blob copied to another row does
  not open. Every key ever stored was sealed so: nothing stored changes.
- One key is active per owner at a time (a partial unique index decides between concurrent
  makers). A retired key keeps its row and stays published, to verify what it signed.
- A node's key (``NodeHeldKey``) may instead be the tenant's own public key: the platform
  then holds no private half and refuses to sign with it (409 ``node_signs_outside``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from sandbox import clock
from sandbox.errors import Conflict
from sandbox.keyring import Keyring
from sandbox.nodekeys.jws import JwsError
from sandbox.nodekeys.models import KeyOrigin, KeyStatus, NodeHeldKey, SigningKey
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor, audit_record

MASTER_KEY_SETTING = "NODE_KEYS_MASTER_KEY"

K = TypeVar("K", bound=SigningKey)
N = TypeVar("N", bound=NodeHeldKey)


def keyring(model: type[SigningKey]) -> Keyring:
    return Keyring.from_setting(MASTER_KEY_SETTING, purpose=model.KEYRING_PURPOSE)


def _aad(key: SigningKey) -> bytes:
    # The sealed half opens only as this owner's key with this kid: a copied blob does not.
    return f"{key.sealing_owner}:{key.kid}".encode()


def key_create(model: type[K], *, created_at: datetime, **owner: Any) -> K:
    """A new key held by the platform, saved, its private half sealed; ``owner`` are the
    model's other columns (a node key's node and origin)."""
    algorithm = model.ALGORITHM
    private = algorithm.generate()
    jwk = algorithm.public_jwk(algorithm.public_key(private))
    key = model(
        kid=algorithm.thumbprint(jwk), created_at=created_at, **model.public_fields(jwk), **owner
    )
    key.sealing_key_id, key.sealed_private_key = keyring(model).seal(
        algorithm.private_bytes(private), aad=_aad(key)
    )
    key.save(force_insert=True)
    return key


def key_private(key: SigningKey) -> Any:
    """The private half of a key the platform holds, opened (``KeyringError`` when the
    keyring lacks the key it was sealed under)."""
    if key.sealed_private_key is None:
        raise ValueError(f"The platform holds no private half of key {key.kid}.")
    raw = keyring(type(key)).open(key.sealing_key_id, bytes(key.sealed_private_key), aad=_aad(key))
    return key.ALGORITHM.load_private(raw)


def key_active(keys: QuerySet[K], *, make: Callable[[], K]) -> K:
    """The active key among ``keys`` (one owner's), made with ``make`` on first use."""
    key = keys.filter(status=KeyStatus.ACTIVE).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            return make()
    except IntegrityError:  # made concurrently: the partial unique index decided
        return keys.get(status=KeyStatus.ACTIVE)


def key_retire_active(keys: QuerySet[K], *, at: datetime) -> K | None:
    """Retire the active key among ``keys``, locked. ``at`` is the owner's clock, as the
    ``iat`` of what the key signed: what claims to be signed later is refused by comparing
    the two (``key_retired``)."""
    current = keys.select_for_update().filter(status=KeyStatus.ACTIVE).first()
    if current is not None:
        current.status = KeyStatus.RETIRED
        current.retired_at = at
        current.save(update_fields=["status", "retired_at"])
    return current


def published_jwk(key: SigningKey) -> dict[str, Any]:
    """A key as its JWKS publishes it, with its status (retired keys still verify)."""
    return {**key.jwk, "kid": key.kid, "alg": key.ALGORITHM.alg, "use": "sig", "status": key.status}


def key_set(keys: QuerySet[K], present: Callable[[K], dict[str, Any]]) -> dict[str, Any]:
    """A JWKS: the active key first, then the retired ones, newest first."""
    return {"keys": [present(key) for key in keys.order_by("status", "-created_at")]}


# --- A node's keys ----------------------------------------------------------------------------


def _node_keys(model: type[N], node: Node) -> QuerySet[N]:
    # The manager is typed for the base model: its rows are the model's.
    return cast("QuerySet[N]", model._default_manager.filter(node=node))


def node_key_active(model: type[N], *, node: Node) -> N:
    """The node's active key of this kind, made now (held by the platform) on first use."""
    return key_active(_node_keys(model, node), make=lambda: _platform_key(model, node))


def _platform_key(model: type[N], node: Node) -> N:
    return key_create(
        model, created_at=clock.now(node_id=node.pk), node=node, origin=KeyOrigin.PLATFORM
    )


def _check_changeable(node: Node) -> None:
    if not node.is_active:
        raise Conflict("A deactivated node's keys cannot change.", code="node_inactive")


def _retire_and_audit(
    model: type[N], *, node: Node, actor: Actor, action: str, make: Callable[[], N]
) -> N:
    old = key_retire_active(_node_keys(model, node), at=clock.now(node_id=node.pk))
    key = make()
    audit_record(
        actor=actor,
        action=action,
        tenant=node.tenant,
        target=node,
        data={"kid": key.kid, "retired_kid": old.kid if old else None},
    )
    return key


@transaction.atomic
def node_key_rotate_to_platform(model: type[N], *, node: Node, actor: Actor, audit: str) -> N:
    """Retire the node's active key of this kind and make a new one the platform holds
    (back from a registered one, too); audited as ``<audit>.rotated``."""
    _check_changeable(node)
    return _retire_and_audit(
        model,
        node=node,
        actor=actor,
        action=f"{audit}.rotated",
        make=lambda: _platform_key(model, node),
    )


@transaction.atomic
def node_key_register_tenants(
    model: type[N], *, node: Node, actor: Actor, jwk: Any, audit: str
) -> N:
    """Make the tenant's own public key (a JWK of the model's algorithm) the node's active
    key of this kind: from now on the tenant signs with it, outside the sandbox; audited
    as ``<audit>.registered``. A bad JWK is a 400 with the algorithm's code."""
    _check_changeable(node)
    algorithm = model.ALGORITHM
    try:
        public = algorithm.public_jwk(algorithm.public_from_jwk(jwk))
    except JwsError as exc:
        raise Conflict(exc.message, code=exc.code, status_code=400) from None
    kid = algorithm.thumbprint(public)
    if model._default_manager.filter(kid=kid).exists():
        raise Conflict("This key is already registered.", code="key_already_registered")
    return _retire_and_audit(
        model,
        node=node,
        actor=actor,
        action=f"{audit}.registered",
        make=lambda: _tenant_key(model, node=node, kid=kid, public=public),
    )


def _tenant_key(model: type[N], *, node: Node, kid: str, public: dict[str, str]) -> N:
    key = model(
        node=node,
        kid=kid,
        origin=KeyOrigin.TENANT,
        created_at=clock.now(node_id=node.pk),
        **model.public_fields(public),
    )
    key.save(force_insert=True)
    return key


def node_key_private(key: NodeHeldKey, *, refusal: str) -> Any:
    """The private half of a node's key, when the platform holds it; 409
    ``node_signs_outside`` (``refusal`` says what to do instead) when the tenant does."""
    if key.origin != KeyOrigin.PLATFORM:
        raise Conflict(refusal, code="node_signs_outside")
    return key_private(key)
