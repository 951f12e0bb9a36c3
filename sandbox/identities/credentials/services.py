"""Writes of SD-JWT credentials: issue to a verified person (identity, delivery) or to a
node's business identity, make or record a presentation, create a presentation request,
and verify a presentation against it.

Issuance reads personal data through ``identities.services.reveal`` (an access-log row
says who read what and why) and keeps the issued SD-JWT sealed under the person's data key,
so erasing the person makes their credentials unreadable too. Verification changes nothing
unless the presentation is valid: then the request's nonce is spent (a second use is a
replay) and the verifier's record keeps the disclosed claim paths, not their values.
"""

from __future__ import annotations

import datetime
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from sandbox import clock
from sandbox.errors import ApplicationError, Conflict
from sandbox.events.services import NewEvent, events_record
from sandbox.identities import matching, sealing
from sandbox.identities import selectors as identity_selectors
from sandbox.identities.credentials import claims as vocabulary
from sandbox.identities.credentials import keys, presenters, sdjwt
from sandbox.identities.credentials.models import (
    Credential,
    HolderKey,
    Presentation,
    PresentationRequest,
)
from sandbox.identities.credentials.sdjwt import Sd
from sandbox.identities.models import Person, VerificationLevel
from sandbox.identities.services import Address, PersonRedacted, reveal
from sandbox.identities.vault import node_identity_data, person_dek
from sandbox.keyring import Keyring
from sandbox.nodekeys.jws import JwsError
from sandbox.tenants.models import Node
from sandbox.tenants.services import Actor

CREDENTIAL_LIFETIME = {
    Credential.Kind.IDENTITY: datetime.timedelta(days=365),
    Credential.Kind.DELIVERY: datetime.timedelta(days=14),
    Credential.Kind.BUSINESS: datetime.timedelta(days=365),
}
REQUEST_LIFETIME = datetime.timedelta(minutes=15)
SEALING_PURPOSE = "identity-credentials"
AUDIENCE_PREFIX = "urn:fsbx:node:"


def issuer_id() -> str:
    """``iss`` of every credential; its keys are at ``<iss>/jwks/issuer.json``."""
    return str(settings.SANDBOX_BASE_URL).rstrip("/")


def audience_of(node: Node) -> str:
    return f"{AUDIENCE_PREFIX}{node.pk}"


def actor_label(actor: Actor) -> str:
    """``actor`` as the identities access log names it."""
    if actor.api_key is not None:
        return f"api_key:{actor.api_key.prefix}"
    if actor.user is not None:
        return f"user:{actor.user.email}"
    return "platform:credentials"


# --- Sealing the issued SD-JWT ---------------------------------------------------------------
# A person's credential carries their personal data: it is sealed under the person's own
# data key (``identities.vault``), so erasing the person (the key destroyed) makes their
# credentials unreadable as well. A node's business credential: under the keyring.

SEALED_UNDER_PERSON_KEY = "person"


def _keyring() -> Keyring:
    return Keyring.from_setting("NODE_KEYS_MASTER_KEY", purpose=SEALING_PURPOSE)


def _aad(credential: Credential) -> bytes:
    return f"credential:{credential.pk}".encode()


def _seal(credential: Credential, sd_jwt: str) -> None:
    if credential.person is not None:
        credential.sealing_key_id = SEALED_UNDER_PERSON_KEY
        credential.sealed_sd_jwt = sealing.seal_field(
            person_dek(credential.person),
            sd_jwt,
            kind=SEALING_PURPOSE,
            owner_id=credential.pk,
            field="sd_jwt",
        )
    else:
        credential.sealing_key_id, credential.sealed_sd_jwt = _keyring().seal(
            sd_jwt.encode("ascii"), aad=_aad(credential)
        )


def credential_sd_jwt(credential: Credential) -> str:
    """The issued SD-JWT in clear (every disclosure); 410 once the person is erased."""
    if credential.person is not None:
        return sealing.open_field(
            person_dek(credential.person),  # PersonRedacted once erased
            bytes(credential.sealed_sd_jwt),
            kind=SEALING_PURPOSE,
            owner_id=credential.pk,
            field="sd_jwt",
        )
    sealed = bytes(credential.sealed_sd_jwt)
    return _keyring().open(credential.sealing_key_id, sealed, aad=_aad(credential)).decode()


# --- Issuing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    credential: Credential
    sd_jwt: str  # the holder's copy, every disclosure included


def _holder_node(person: Person, holder_node: Node | None) -> Node:
    node = holder_node or person.node
    if node is None:
        raise ApplicationError(
            "Name the node that holds the credential (holder_node): this person has none.",
            code="holder_node_required",
            fields={"holder_node": ["Required: the person is served by no node."]},
        )
    if node.tenant_id != person.tenant_id:
        raise ApplicationError("No such node.", code="node_not_found", status_code=404)
    if not node.is_active:
        raise Conflict("The holder node is deactivated.", code="node_inactive")
    return node


def _check_person(person: Person) -> None:
    if person.is_redacted:
        raise PersonRedacted(person)
    if person.verification_level == VerificationLevel.UNVERIFIED:
        raise Conflict(
            "Only verified people get credentials: this person's level is unverified.",
            code="person_unverified",
        )


def _issue(
    *,
    tenant_id: Any,
    kind: str,
    vct: str,
    holder_node: Node,
    claims: dict[str, Any],
    predicates: dict[str, Any],
    person: Person | None = None,
    subject_node: Node | None = None,
    order_id: str = "",
    now: datetime.datetime,
) -> Issued:
    issuer = keys.issuer_key_current()
    holder = keys.holder_key_current(node=holder_node)
    expires_at = now + CREDENTIAL_LIFETIME[Credential.Kind(kind)]
    credential = Credential(
        tenant_id=tenant_id,
        person=person,
        subject_node=subject_node,
        holder_node=holder_node,
        kind=kind,
        vct=vct,
        order_id=order_id,
        claim_paths=list(vocabulary.PATHS[vct]),
        predicates=predicates,
        issuer_kid=issuer.kid,
        holder_kid=holder.kid,
        issued_at=now,
        expires_at=expires_at,
    )
    payload = {
        "iss": issuer_id(),
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": f"urn:uuid:{credential.pk}",
        "vct": vct,
        **claims,
    }
    sd_jwt = sdjwt.issue(
        issuer_key=keys.issuer_private(issuer),
        kid=issuer.kid,
        claims=payload,
        holder_jwk=holder.public_jwk,
    )
    _seal(credential, sd_jwt)
    with transaction.atomic():
        credential.save(force_insert=True)
        events_record(
            [
                NewEvent(
                    node_id=holder_node.pk,
                    tenant_id=tenant_id,
                    type="credential.issued",
                    obj=credential,
                    data=presenters.credential_json(credential),
                )
            ]
        )
    return Issued(credential, sd_jwt)


def credential_issue_identity(
    *, person: Person, actor: Actor, holder_node: Node | None = None
) -> Issued:
    """An identity credential: name, birth date, address parts, phone, e-mail and
    nationality as disclosable claims, and ``age_over_19`` and ``kyc_level`` computed now."""
    _check_person(person)
    node = _holder_node(person, holder_node)
    now = clock.now(node_id=node.pk)
    data = reveal(person, actor=actor_label(actor), purpose="issue an identity credential")
    age_over_19 = vocabulary.age_at(data.birth_date, now.date()) >= vocabulary.ADULT_AGE
    predicates = {"age_over_19": age_over_19, "kyc_level": person.verification_level}
    claims = {
        "name": Sd(data.legal_name),
        "birthdate": Sd(data.birth_date.isoformat()),
        "address": vocabulary.address_claim(
            data.address.street, data.address.city, data.address.postal_code, data.address.country
        ),
        "phone_number": Sd(data.phone),
        "email": Sd(data.email),
        "nationalities": Sd([data.national_id_country]),
        "age_over_19": Sd(age_over_19),
        "kyc_level": Sd(person.verification_level),
    }
    return _issue(
        tenant_id=person.tenant_id,
        kind=Credential.Kind.IDENTITY,
        vct=vocabulary.VCT_IDENTITY,
        holder_node=node,
        claims=claims,
        predicates=predicates,
        person=person,
        now=now,
    )


def credential_issue_delivery(
    *,
    person: Person,
    actor: Actor,
    order_id: str,
    delivery_address: Address,
    holder_node: Node | None = None,
) -> Issued:
    """A delivery credential for one order: ``recipient_matches_delivery_address`` (the
    person's address scored against the delivery address, ``matching.score_address``, in
    the "match" band), the order id and the delivery address as disclosable claims, with
    the name and phone the courier does not need unless asked."""
    order_id = order_id.strip()
    if not order_id or len(order_id) > 64:
        raise ApplicationError(
            "An order id of 1 to 64 characters.",
            code="invalid_order_id",
            fields={"order_id": ["1 to 64 characters."]},
        )
    _check_person(person)
    node = _holder_node(person, holder_node)
    now = clock.now(node_id=node.pk)
    data = reveal(
        person,
        actor=actor_label(actor),
        purpose=f"issue a delivery credential for order {order_id}",
        fields=["legal_name", "phone", "address"],
    )
    score = matching.score_address(delivery_address, data.address)
    matches = matching.band(score) == "match"
    predicates = {
        "recipient_matches_delivery_address": matches,
        "address_match_band": matching.band(score),
        "kyc_level": person.verification_level,
        "order_id": order_id,
    }
    claims = {
        "name": Sd(data.legal_name),
        "phone_number": Sd(data.phone),
        "order_id": Sd(order_id),
        "address": vocabulary.address_claim(
            delivery_address.street,
            delivery_address.city,
            delivery_address.postal_code,
            delivery_address.country,
        ),
        "recipient_matches_delivery_address": Sd(matches),
        "kyc_level": Sd(person.verification_level),
    }
    return _issue(
        tenant_id=person.tenant_id,
        kind=Credential.Kind.DELIVERY,
        vct=vocabulary.VCT_DELIVERY,
        holder_node=node,
        claims=claims,
        predicates=predicates,
        person=person,
        order_id=order_id,
        now=now,
    )


def credential_issue_business(*, node: Node, holder_node: Node | None = None) -> Issued:
    """A business identity credential for a node with a verified business identity: legal
    name, registration number and address parts as disclosable claims, and ``kyc_level``.
    Held by the node itself unless ``holder_node`` (of the same tenant) is named."""
    identity = identity_selectors.node_identity_for(node)
    if identity is None:
        raise Conflict("This node has no business identity yet.", code="node_identity_missing")
    if identity.verification_level == VerificationLevel.UNVERIFIED:
        raise Conflict(
            "Only verified business identities get credentials: this one is unverified.",
            code="node_unverified",
        )
    holder = holder_node or node
    if holder.tenant_id != node.tenant_id:
        raise ApplicationError("No such node.", code="node_not_found", status_code=404)
    if not holder.is_active:
        raise Conflict("The holder node is deactivated.", code="node_inactive")
    data = node_identity_data(identity)  # a business's registered data, not personal data
    level = identity.verification_level
    claims = {
        "legal_name": Sd(data.legal_name),
        "registration_number": Sd(data.registration_number),
        "address": vocabulary.address_claim(
            data.address.street, data.address.city, data.address.postal_code, data.address.country
        ),
        "kyc_level": Sd(level),
    }
    return _issue(
        tenant_id=node.tenant_id,
        kind=Credential.Kind.BUSINESS,
        vct=vocabulary.VCT_BUSINESS,
        holder_node=holder,
        claims=claims,
        predicates={"kyc_level": level},
        subject_node=node,
        now=clock.now(node_id=holder.pk),
    )


# --- Presenting (the holder) ------------------------------------------------------------------


def _usable(credential: Credential, now: datetime.datetime) -> None:
    if credential.status != Credential.Status.ACTIVE:
        raise Conflict("The credential is revoked.", code="credential_revoked")
    if now >= credential.expires_at:
        raise Conflict("The credential has expired.", code="credential_expired")


def _verifier_node(audience: str) -> Node | None:
    """The node an audience names (``urn:fsbx:node:<id>``), if any: who learned the claims."""
    try:
        node_id = uuid.UUID(audience.removeprefix(AUDIENCE_PREFIX))
    except ValueError:
        return None
    return Node.objects.filter(pk=node_id).first() if audience.startswith(AUDIENCE_PREFIX) else None


def _record(
    credential: Credential, verified: sdjwt.Verified, *, signed_by: str, now: datetime.datetime
) -> Presentation:
    kb = verified.key_binding
    presentation = Presentation(
        tenant_id=credential.tenant_id,
        credential=credential,
        person=credential.person,
        audience=str(kb["aud"])[:120],
        verifier_node=_verifier_node(str(kb["aud"])),
        nonce=str(kb["nonce"])[:64],
        disclosed_claims=[p for p in credential.claim_paths if p in verified.disclosed],
        signed_by=signed_by,
        sd_hash=str(kb["sd_hash"]),
        created_at=now,
    )
    try:
        with transaction.atomic():
            presentation.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            "This credential was already presented for this nonce.", code="nonce_reused"
        ) from None
    return presentation


def _check_text(name: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise ApplicationError(
            f"{name} must be 1 to {limit} characters.",
            code=f"invalid_{name}",
            fields={name: [f"1 to {limit} characters."]},
        )
    return value


@dataclass(frozen=True)
class Presented:
    presentation: Presentation
    text: str  # the SD-JWT presentation: <JWT>~<disclosures>~<KB-JWT>


def credential_present(
    *, credential: Credential, audience: str, nonce: str, claims: list[str]
) -> Presented:
    """A presentation of ``claims`` only, for ``audience`` and ``nonce``, its key-binding
    JWT signed with the holder node's platform-held key (409 ``node_signs_outside`` when
    the tenant holds it: then it makes the presentation itself and submits it)."""
    audience = _check_text("audience", audience, 120)
    nonce = _check_text("nonce", nonce, 64)
    try:
        paths = vocabulary.expand(credential.vct, claims)
    except ValueError as exc:
        raise ApplicationError(
            f"Unknown claim(s): {exc}.", code="unknown_claim", fields={"claims": [str(exc)]}
        ) from None
    if not paths:
        raise ApplicationError("Ask for at least one claim.", code="no_claims")
    holder_node = credential.holder_node
    now = clock.now(node_id=holder_node.pk)
    _usable(credential, now)
    holder = HolderKey.objects.filter(kid=credential.holder_kid).first()
    if holder is None or holder.status != "active":
        raise Conflict(
            "The holder key this credential is bound to is retired: issue a new credential.",
            code="holder_key_retired",
        )
    private = keys.holder_private(holder)
    text = sdjwt.present(
        credential_sd_jwt(credential),
        paths,
        sign_key_binding=sdjwt.sign_key_binding_with(private),
        audience=audience,
        nonce=nonce,
        now=now,
    )
    verified = sdjwt.verify(
        text, issuer_key=keys.issuer_public, audience=audience, nonce=nonce, now=now
    )
    return Presented(
        _record(credential, verified, signed_by=HolderKey.Origin.PLATFORM, now=now), text
    )


def credential_submit_presentation(*, credential: Credential, presentation: str) -> Presented:
    """Record a presentation the tenant made with its own holder key: it must be of this
    credential, and verify (issuer signature, disclosures, key binding) for the audience
    and nonce its key-binding JWT names."""
    now = clock.now(node_id=credential.holder_node_id)
    _usable(credential, now)
    try:
        parts = sdjwt.split(presentation)
        issued = sdjwt.split(credential_sd_jwt(credential))
        if parts.jwt != issued.jwt:
            raise sdjwt.Invalid("wrong_credential", "The presentation is of another credential.")
        kb = sdjwt.es256.parse(parts.kb_jwt).payload
        verified = sdjwt.verify(
            presentation,
            issuer_key=keys.issuer_public,
            audience=str(kb.get("aud", "")),
            nonce=str(kb.get("nonce", "")),
            now=now,
        )
    except JwsError as exc:
        raise ApplicationError(exc.message, code="invalid_presentation") from None
    except sdjwt.Invalid as exc:
        raise ApplicationError(
            exc.message, code="invalid_presentation", fields={"reason": [exc.reason]}
        ) from None
    return Presented(
        _record(credential, verified, signed_by=HolderKey.Origin.TENANT, now=now), presentation
    )


@transaction.atomic
def credential_revoke(*, credential: Credential) -> Credential:
    """Revoke a credential: the sandbox no longer presents it, and its verifier API answers
    ``revoked`` for it (an offline verifier cannot know: the credential has no status list).
    Revoking a revoked credential changes nothing."""
    locked = Credential.objects.select_for_update().get(pk=credential.pk)
    if locked.status != Credential.Status.REVOKED:
        locked.status = Credential.Status.REVOKED
        locked.save(update_fields=["status"])
        events_record(
            [
                NewEvent(
                    node_id=locked.holder_node_id,
                    tenant_id=locked.tenant_id,
                    type="credential.revoked",
                    obj=locked,
                    data=presenters.credential_json(locked),
                )
            ]
        )
    return locked


# --- Verifying (the verifier) -----------------------------------------------------------------


def presentation_request_create(
    *, verifier_node: Node, credential_type: str, claims: list[str], order_id: str = ""
) -> PresentationRequest:
    """A request from ``verifier_node`` for ``claims`` of a credential type, with a fresh
    nonce; the audience is the verifier node (``urn:fsbx:node:<id>``)."""
    vct = _TYPES.get(credential_type)
    if vct is None:
        raise ApplicationError(
            f"Unknown credential type {credential_type!r}; known: {', '.join(_TYPES)}.",
            code="unknown_credential_type",
            fields={"credential_type": [f"One of {', '.join(_TYPES)}."]},
        )
    try:
        paths = vocabulary.expand(vct, claims)
    except ValueError as exc:
        raise ApplicationError(
            f"Unknown claim(s) for a {credential_type} credential: {exc}.",
            code="unknown_claim",
            fields={"claims": [f"Unknown: {exc}. Known: {', '.join(vocabulary.PATHS[vct])}."]},
        ) from None
    if not paths:
        raise ApplicationError("Ask for at least one claim.", code="no_claims")
    if not verifier_node.is_active:
        raise Conflict("The verifier node is deactivated.", code="node_inactive")
    order_id = order_id.strip()
    if len(order_id) > 64:
        raise ApplicationError("An order id is at most 64 characters.", code="invalid_order_id")
    now = clock.now(node_id=verifier_node.pk)
    return PresentationRequest.objects.create(
        tenant_id=verifier_node.tenant_id,
        verifier_node=verifier_node,
        vct=vct,
        claims=paths,
        order_id=order_id,
        audience=audience_of(verifier_node),
        nonce=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + REQUEST_LIFETIME,
    )


_TYPES = {
    Credential.Kind.IDENTITY.value: vocabulary.VCT_IDENTITY,
    Credential.Kind.DELIVERY.value: vocabulary.VCT_DELIVERY,
    Credential.Kind.BUSINESS.value: vocabulary.VCT_BUSINESS,
}


@dataclass(frozen=True)
class Verification:
    """``valid`` with the disclosed claims, or ``invalid`` with the reason."""

    result: str
    reason: str | None
    message: str
    claims: dict[str, Any]
    request: PresentationRequest


def _invalid(request: PresentationRequest, reason: str, message: str) -> Verification:
    return Verification("invalid", reason, message, {}, request)


def presentation_verify(*, request: PresentationRequest, presentation: Any) -> Verification:
    """Verify ``presentation`` against the verifier's ``request``: the issuer's signature
    (a published key), every disclosure in the credential, the key binding over the
    request's audience and nonce, the validity period (the verifier node's clock), the type
    and every claim asked for. Valid: the nonce is spent and event
    ``presentation.verified``; invalid: nothing changes."""
    with transaction.atomic():
        locked = PresentationRequest.objects.select_for_update().get(pk=request.pk)
        now = clock.now(node_id=locked.verifier_node_id)
        if locked.status == PresentationRequest.Status.VERIFIED:
            return _invalid(locked, "nonce_replayed", "This request's nonce was already used.")
        if now >= locked.expires_at:
            return _invalid(locked, "request_expired", "The presentation request has expired.")
        try:
            verified = sdjwt.verify(
                presentation,
                issuer_key=keys.issuer_public,
                audience=locked.audience,
                nonce=locked.nonce,
                now=now,
            )
        except sdjwt.Invalid as exc:
            return _invalid(locked, exc.reason, exc.message)
        if _revoked(verified.claims.get("jti")):
            return _invalid(locked, "revoked", "The issuer revoked this credential.")
        if verified.claims.get("vct") != locked.vct:
            return _invalid(locked, "wrong_credential_type", "Not the credential type asked for.")
        missing = [p for p in locked.claims if p not in verified.disclosed]
        if missing:
            return _invalid(
                locked, "claims_missing", f"Claims asked for but not disclosed: {missing}."
            )
        if locked.order_id and verified.claims.get("order_id") != locked.order_id:
            return _invalid(locked, "wrong_order", "The credential is for another order.")
        disclosed = sorted(verified.disclosed)
        locked.status = PresentationRequest.Status.VERIFIED
        locked.verified_at = now
        locked.disclosed = {
            "claims": disclosed,
            "predicates": {
                p: _path_value(verified.claims, p) for p in disclosed if p in vocabulary.PREDICATES
            },
        }
        locked.save(update_fields=["status", "verified_at", "disclosed"])
        events_record(
            [
                NewEvent(
                    node_id=locked.verifier_node_id,
                    tenant_id=locked.tenant_id,
                    type="presentation.verified",
                    obj=locked,
                    data=presenters.request_json(locked),
                )
            ]
        )
    claims = {k: v for k, v in verified.claims.items() if k not in ("cnf",) and v != {}}
    return Verification("valid", None, "The presentation is valid.", claims, locked)


def _revoked(jti: Any) -> bool:
    if not isinstance(jti, str) or not jti.startswith("urn:uuid:"):
        return False
    try:
        credential_id = uuid.UUID(jti.removeprefix("urn:uuid:"))
    except ValueError:
        return False
    return Credential.objects.filter(pk=credential_id, status=Credential.Status.REVOKED).exists()


def _path_value(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
