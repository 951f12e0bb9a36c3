"""Writes of identities: register a person, reveal (logged), change a verification level,
erase; a node's business identity.

Personal data never reaches a column in clear: ``register_person`` validates and normalizes
it, makes the person's data key, seals each field and computes the blind indexes, all before
the INSERT. ``reveal`` is the one way back to clear values, and writes an access-log row in
the same transaction as it reads. ``erase`` destroys the data key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from stdnum.kr import brn

from sandbox import clock
from sandbox.errors import ApplicationError, Conflict, Unprocessable
from sandbox.events.services import event_record
from sandbox.identities import matching, sealing
from sandbox.identities.data import (
    Address,
    PersonalData,
    normalize_name,
    validate_personal_data,
)
from sandbox.identities.models import (
    AccessLogEntry,
    NodeIdentity,
    Person,
    VerificationLevel,
)
from sandbox.identities.presenters import node_identity_as_json, person_as_json
from sandbox.identities.vault import (
    NODE_IDENTITY,
    PERSON,
    NodeIdentityData,
    PersonRedacted,
    open_person,
    seal_person,
)
from sandbox.tenants.models import Node, Tenant
from sandbox.tenants.services import Actor

__all__ = [
    "Address",
    "MatchResult",
    "NodeIdentityData",
    "PersonRedacted",
    "PersonalData",
    "actor_label",
    "erase",
    "match_person",
    "node_identity_set",
    "register_person",
    "reveal",
    "reveal_fields",
    "set_verification_level",
]

# --- People -------------------------------------------------------------------------------------


def _record(
    *, tenant: Tenant, node: Node | None, type: str, obj: Any, data: dict[str, Any]
) -> None:
    # ``event_record``, not ``events_record``: a person may have no node (the bulk writer
    # needs one).
    event_record(tenant=tenant, node=node, type=type, obj=obj, data=data)


def _person_events(person: Person, type: str, data: dict[str, Any] | None = None) -> None:
    _record(
        tenant=person.tenant,
        node=person.node,
        type=type,
        obj=person,
        data=data if data is not None else person_as_json(person),
    )


def register_person(
    *, tenant: Tenant, data: PersonalData, node: Node | None = None, customer_reference: str = ""
) -> Person:
    """A new person of ``tenant``, their data validated (422 with a code per bad field,
    nothing stored), normalized and sealed; event ``person.created``."""
    if node is not None and node.tenant_id != tenant.pk:
        raise Unprocessable("The node belongs to another tenant.", code="node_not_found")
    now = clock.now(node_id=node.pk if node is not None else None)
    clean = validate_personal_data(data, today=now.date())
    customer_reference = customer_reference.strip()
    if len(customer_reference) > 64:
        raise Unprocessable(
            "A customer reference is at most 64 characters.",
            code="invalid_customer_reference",
            fields={"customer_reference": ["At most 64 characters."]},
        )
    person = Person(tenant=tenant, node=node, customer_reference=customer_reference, created_at=now)
    seal_person(person, clean)
    try:
        with transaction.atomic():
            person.save(force_insert=True)
            _person_events(person, "person.created")
    except IntegrityError:
        if Person.objects.filter(tenant=tenant, customer_reference=customer_reference).exists():
            raise Conflict(
                f"A person with customer reference {customer_reference!r} already exists.",
                code="customer_reference_taken",
            ) from None
        raise
    return person


def reveal_fields(fields: Sequence[str] | None) -> tuple[str, ...]:
    """The fields a reveal reads (all by default); 400 ``unknown_field`` for others."""
    if fields is None:
        return Person.SEALED_FIELDS
    unknown = [f for f in fields if f not in Person.SEALED_FIELDS]
    if unknown or not fields:
        known = ", ".join(Person.SEALED_FIELDS)
        raise ApplicationError(
            f"Unknown or no fields to reveal: {', '.join(unknown) or '(none)'}; known: {known}.",
            code="unknown_field",
            fields={"fields": [f"Known fields: {known}."]},
        )
    return tuple(dict.fromkeys(fields))


def reveal(
    person: Person, *, actor: str, purpose: str, fields: Sequence[str] | None = None
) -> PersonalData:
    """The person's data in clear (only ``fields`` if given; the others empty: "" and
    ``date.min``), and an access-log row: who (``actor``), which fields, when (the node's
    clock), why (``purpose``, required). 410 ``person_redacted`` once erased."""
    purpose = (purpose or "").strip()
    if not purpose:
        raise ApplicationError(
            "Say why the data is read: a purpose is required.",
            code="purpose_required",
            fields={"purpose": ["Required."]},
        )
    wanted = reveal_fields(fields)
    with transaction.atomic():
        # The key as it is now: erased or re-wrapped since ``person`` was read, it counts.
        person.status, person.wrapped_dek, person.kek_id = (
            Person.objects.filter(pk=person.pk).values_list("status", "wrapped_dek", "kek_id").get()
        )
        data = open_person(person, wanted)
        AccessLogEntry.objects.create(
            tenant_id=person.tenant_id,
            person=person,
            actor=actor[:200],
            fields=list(wanted),
            purpose=purpose[:500],
            accessed_at=clock.now(node_id=person.node_id),
        )
    return data


def actor_label(actor: Actor) -> str:
    """The access log's "who": ``api_key:<prefix>``, ``user:<email>`` or ``system``."""
    if actor.api_key is not None:
        return f"api_key:{actor.api_key.prefix}"
    if actor.user is not None:
        return f"user:{actor.user.email}"
    return "system"


@dataclass(frozen=True)
class MatchResult:
    """Scores (0-100) of the claims given, by field; never the stored values."""

    scores: dict[str, int]

    def as_json(self) -> dict[str, dict[str, Any]]:
        return {
            field: {"score": score, "band": matching.band(score)}
            for field, score in self.scores.items()
        }


def match_person(
    person: Person,
    *,
    actor: str,
    name: str | None = None,
    phone: str | None = None,
    address: Address | None = None,
    purpose: str = "match",
) -> MatchResult:
    """Score claims about the person without disclosing what is stored. The comparison
    reads the sealed fields, so it is logged like a reveal (purpose ``match``, the fields
    compared): the caller learned how well its claims match."""
    claims = {"legal_name": name, "phone": phone, "address": address}
    fields = [field for field, claim in claims.items() if claim is not None]
    if not fields:
        raise ApplicationError(
            "Give at least one claim to match: name, phone or address.",
            code="no_claims",
            fields={"name": ["Give a name, a phone or an address."]},
        )
    stored = reveal(person, actor=actor, purpose=purpose, fields=fields)
    scores: dict[str, int] = {}
    if name is not None:
        scores["name"] = matching.score_name(name, stored.legal_name)
    if phone is not None:
        scores["phone"] = matching.score_phone(phone, stored.phone)
    if address is not None:
        scores["address"] = matching.score_address(address, stored.address)
    return MatchResult(scores=scores)


def set_verification_level(subject: Person | NodeIdentity, level: str, *, reason: str) -> None:
    """Move ``subject`` to ``level`` (up or down); event
    ``identity.verification_level_changed`` when it changes. An erased person keeps the level
    they had: nothing about them can be verified any more (410)."""
    if level not in VerificationLevel.values:
        raise ApplicationError(
            f"Unknown verification level {level!r}.", code="invalid_verification_level"
        )
    model = type(subject)
    with transaction.atomic():
        locked = model.objects.select_for_update().get(pk=subject.pk)
        if isinstance(locked, Person) and locked.is_redacted:
            raise PersonRedacted(locked)
        previous = locked.verification_level
        if previous == level:
            subject.verification_level = level
            return
        locked.verification_level = level
        locked.save(update_fields=["verification_level"])
        subject.verification_level = level
        node_id = locked.node_id
        _record(
            tenant=locked.tenant,
            node=locked.node,
            type="identity.verification_level_changed",
            obj=locked,
            data={
                "object": PERSON if isinstance(locked, Person) else NODE_IDENTITY,
                "id": str(locked.pk),
                "node": str(node_id) if node_id else None,
                "previous_level": previous,
                "verification_level": level,
                "reason": reason,
            },
        )


def erase(person: Person, *, actor: str, reason: str) -> None:
    """Destroy the person's data key (and blind indexes): their sealed data can never be
    read again; the ledger, which holds no personal data, is untouched. Event
    ``person.erased``. Erasing an erased person changes nothing."""
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        if not locked.is_redacted:
            locked.status = Person.Status.REDACTED
            locked.wrapped_dek = None
            locked.phone_index = locked.national_id_index = locked.email_index = ""
            locked.redacted_at = clock.now(node_id=locked.node_id)
            locked.save(
                update_fields=[
                    "status",
                    "wrapped_dek",
                    "phone_index",
                    "national_id_index",
                    "email_index",
                    "redacted_at",
                ]
            )
            data = person_as_json(locked)
            data["erased_by"] = actor
            data["erasure_reason"] = reason
            _person_events(locked, "person.erased", data)
    for attr in ("status", "wrapped_dek", "redacted_at", "phone_index", "national_id_index"):
        setattr(person, attr, getattr(locked, attr))
    person.email_index = locked.email_index


# --- Node identities ----------------------------------------------------------------------------


def _check_node_identity(node: Node, data: NodeIdentityData) -> NodeIdentityData:
    errors: dict[str, list[str]] = {}
    legal_name = normalize_name(data.legal_name)
    if not legal_name or len(legal_name) > 200:
        errors["legal_name"] = ["A legal business name of 1 to 200 characters."]
    number = data.registration_number.strip()
    if str(node.country) == "KR":
        number = brn.compact(number)
        if not brn.is_valid(number):
            errors["registration_number"] = [
                "Not a valid Korean business registration number (invalid_registration_number)."
            ]
    elif not 3 <= len(number) <= 40:
        errors["registration_number"] = ["3 to 40 characters (invalid_registration_number)."]
    if not (data.address.street.strip() and data.address.city.strip()):
        errors["address"] = ["An address needs a street and a city (invalid_address)."]
    if errors:
        first = "invalid_registration_number" if "registration_number" in errors else "invalid"
        raise Unprocessable(
            "Some business data is not valid: nothing was stored.",
            code=first if first != "invalid" else "invalid_business_data",
            fields=errors,
        )
    return NodeIdentityData(
        legal_name=legal_name,
        registration_number=number,
        address=Address(
            street=normalize_name(data.address.street),
            city=normalize_name(data.address.city),
            postal_code=data.address.postal_code.strip(),
            country=(data.address.country or str(node.country)).upper(),
        ),
    )


def node_identity_set(*, node: Node, data: NodeIdentityData) -> NodeIdentity:
    """Create or replace the node's business identity (a new data key each time)."""
    clean = _check_node_identity(node, data)
    now = clock.now(node_id=node.pk)
    with transaction.atomic():
        identity = NodeIdentity.objects.select_for_update().filter(node=node).first()
        if identity is None:
            identity = NodeIdentity(node=node, tenant_id=node.tenant_id, created_at=now)
        identity.updated_at = now
        dek = sealing.new_key()
        identity.kek_id, identity.wrapped_dek = sealing.wrap(
            dek, kind=NODE_IDENTITY, owner_id=identity.pk
        )
        values = {
            "legal_name": clean.legal_name,
            "registration_number": clean.registration_number,
            "address": json.dumps(clean.address.as_dict(), ensure_ascii=False, sort_keys=True),
        }
        for field, value in values.items():
            setattr(
                identity,
                f"{field}_sealed",
                sealing.seal_field(
                    dek, value, kind=NODE_IDENTITY, owner_id=identity.pk, field=field
                ),
            )
        identity.save()
        _record(
            tenant=node.tenant,
            node=node,
            type="node_identity.updated",
            obj=identity,
            data=node_identity_as_json(identity),
        )
    return identity
