"""A person's sealed data: sealing, opening, blind indexes (``sealing`` applied to rows).

Not a public way to read personal data: ``services.reveal`` (logged) and the masked
presenters are the callers.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from sandbox.errors import ApplicationError
from sandbox.identities import sealing
from sandbox.identities.data import (
    Address,
    PersonalData,
    normalize_email,
    normalize_national_id,
    normalize_phone,
)
from sandbox.identities.models import BlindIndexKey, NodeIdentity, Person
from sandbox.tenants.models import Tenant

PERSON = "person"
NODE_IDENTITY = "node_identity"
INDEX = "index"


class PersonRedacted(ApplicationError):
    """The person was erased: their data key is gone and nothing can be read."""

    status_code = 410
    default_code = "person_redacted"

    def __init__(self, person: Person) -> None:
        super().__init__(
            f"Person {person.pk} was erased: their personal data can no longer be read.",
        )


# --- Blind indexes -------------------------------------------------------------------------------


def index_key(tenant: Tenant) -> bytes:
    """The tenant's blind-index key, made on first use (one row per tenant)."""
    row = BlindIndexKey.objects.filter(tenant=tenant).first()
    if row is None:
        key = sealing.new_key()
        kek_id, wrapped = sealing.wrap(key, kind=INDEX, owner_id=tenant.pk)
        try:
            with transaction.atomic():
                BlindIndexKey.objects.create(tenant=tenant, wrapped_key=wrapped, kek_id=kek_id)
            return key
        except IntegrityError:  # made concurrently: that one counts
            row = BlindIndexKey.objects.get(tenant=tenant)
    return sealing.unwrap(row.kek_id, row.wrapped_key, kind=INDEX, owner_id=tenant.pk)


def blind_index(tenant: Tenant, *, field: str, normalized: str) -> str:
    return sealing.blind_index(index_key(tenant), field=field, normalized=normalized)


def lookup_index(tenant: Tenant, *, field: str, value: str, country: str = "KR") -> str | None:
    """The blind index of a value given for a lookup, normalized as stored; None when the
    value cannot be one (an invalid phone number)."""
    if field == "phone":
        try:
            normalized = normalize_phone(value)
        except ValueError:
            return None
    elif field == "email":
        normalized = normalize_email(value)
    else:
        country = country.upper()
        normalized = national_id_normal(normalize_national_id(value, country), country)
    return blind_index(tenant, field=field, normalized=normalized)


def national_id_normal(national_id: str, country: str) -> str:
    # The index covers the country too: the same digits in two countries are two ids.
    return f"{country}:{national_id}"


# --- Sealing a person -----------------------------------------------------------------------------


def _field_values(data: PersonalData) -> dict[str, str]:
    return {
        "legal_name": data.legal_name,
        "birth_date": data.birth_date.isoformat(),
        "national_id": data.national_id,
        "national_id_country": data.national_id_country,
        "phone": data.phone,
        "email": data.email,
        "address": json.dumps(data.address.as_dict(), ensure_ascii=False, sort_keys=True),
    }


def seal_person(person: Person, data: PersonalData) -> None:
    dek = sealing.new_key()
    person.kek_id, person.wrapped_dek = sealing.wrap(dek, kind=PERSON, owner_id=person.pk)
    for field, value in _field_values(data).items():
        sealed = sealing.seal_field(dek, value, kind=PERSON, owner_id=person.pk, field=field)
        setattr(person, f"{field}_sealed", sealed)
    key = index_key(person.tenant)
    person.phone_index = sealing.blind_index(key, field="phone", normalized=data.phone)
    person.email_index = sealing.blind_index(key, field="email", normalized=data.email)
    person.national_id_index = sealing.blind_index(
        key,
        field="national_id",
        normalized=national_id_normal(data.national_id, data.national_id_country),
    )


def person_dek(person: Person) -> bytes:
    if person.is_redacted or person.wrapped_dek is None:
        raise PersonRedacted(person)
    return sealing.unwrap(person.kek_id, person.wrapped_dek, kind=PERSON, owner_id=person.pk)


def open_person(person: Person, fields: Sequence[str]) -> PersonalData:
    """Decrypt ``fields`` (the others stay empty: "" and ``date.min``). Not logged: for
    ``reveal`` and for masked forms only."""
    dek = person_dek(person)
    values = {
        field: sealing.open_field(
            dek, getattr(person, f"{field}_sealed"), kind=PERSON, owner_id=person.pk, field=field
        )
        for field in fields
    }
    address = json.loads(values["address"]) if "address" in values else {}
    return PersonalData(
        legal_name=values.get("legal_name", ""),
        birth_date=(
            datetime.date.fromisoformat(values["birth_date"])
            if "birth_date" in values
            else datetime.date.min
        ),
        national_id=values.get("national_id", ""),
        national_id_country=values.get("national_id_country", ""),
        phone=values.get("phone", ""),
        email=values.get("email", ""),
        address=Address(
            street=address.get("street", ""),
            city=address.get("city", ""),
            postal_code=address.get("postal_code", ""),
            country=address.get("country", ""),
        ),
    )


def masked_data(person: Person) -> PersonalData:
    """The person's data for masking (``presenters``): decrypted here, shown only masked."""
    return open_person(person, Person.SEALED_FIELDS)


# --- Node identities -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeIdentityData:
    legal_name: str
    registration_number: str
    address: Address


def node_identity_data(identity: NodeIdentity) -> NodeIdentityData:
    """A node's business data in clear (a business's registered identity, not personal
    data: shown in full to its tenant)."""
    dek = sealing.unwrap(
        identity.kek_id, identity.wrapped_dek, kind=NODE_IDENTITY, owner_id=identity.pk
    )
    values = {
        field: sealing.open_field(
            dek,
            getattr(identity, f"{field}_sealed"),
            kind=NODE_IDENTITY,
            owner_id=identity.pk,
            field=field,
        )
        for field in NodeIdentity.SEALED_FIELDS
    }
    return NodeIdentityData(
        legal_name=values["legal_name"],
        registration_number=values["registration_number"],
        address=Address(**json.loads(values["address"])),
    )
