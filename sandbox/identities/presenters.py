"""The one representation of people and node identities (API, webhooks, dashboard):
masked values only. Clear values leave only through ``services.reveal``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.identities import masking
from sandbox.identities.data import Address, PersonalData
from sandbox.identities.models import AccessLogEntry, KeyRotationJob, NodeIdentity, Person
from sandbox.identities.vault import masked_data, node_identity_data


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def masked_address(address: Address) -> dict[str, str]:
    return {
        "street": masking.mask_text(address.street),
        "city": address.city,
        "postal_code": address.postal_code[:2] + "*" * max(len(address.postal_code) - 2, 0),
        "country": address.country,
    }


def person_masked(person: Person) -> dict[str, Any] | None:
    """The person's data, masked ("김*수", "+82 10-****-5678"); None once erased."""
    if person.is_redacted:
        return None
    data = masked_data(person)
    return {
        "legal_name": masking.mask_name(data.legal_name),
        "birth_date": f"{data.birth_date.year:04d}-**-**",
        "national_id": masking.mask_national_id(data.national_id, data.national_id_country),
        "national_id_country": data.national_id_country,
        "phone": masking.mask_phone(data.phone),
        "email": masking.mask_email(data.email),
        "address": masked_address(data.address),
    }


def person_as_json(person: Person) -> dict[str, Any]:
    return {
        "id": str(person.pk),
        "object": "person",
        "node": str(person.node_id) if person.node_id else None,
        "customer_reference": person.customer_reference,
        "verification_level": person.verification_level,
        "status": person.status,
        "masked": person_masked(person),
        "created_at": _iso(person.created_at),
        "redacted_at": _iso(person.redacted_at),
    }


def revealed_as_json(data: PersonalData, fields: Sequence[str]) -> dict[str, Any]:
    """The fields of a reveal, in clear (only those read)."""
    values: dict[str, Any] = {
        "legal_name": data.legal_name,
        "birth_date": data.birth_date.isoformat(),
        "national_id": data.national_id,
        "national_id_country": data.national_id_country,
        "phone": data.phone,
        "email": data.email,
        "address": data.address.as_dict(),
    }
    return {field: values[field] for field in fields}


def node_identity_as_json(identity: NodeIdentity) -> dict[str, Any]:
    """A node's business identity, masked like a person's data."""
    data = node_identity_data(identity)
    return {
        "object": "node_identity",
        "node": str(identity.node_id),
        "verification_level": identity.verification_level,
        "masked": {
            "legal_name": masking.mask_name(data.legal_name),
            "registration_number": masking.mask_national_id(data.registration_number, ""),
            "address": masked_address(data.address),
        },
        "created_at": _iso(identity.created_at),
        "updated_at": _iso(identity.updated_at),
    }


def access_log_entry_as_json(entry: AccessLogEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "person": str(entry.person_id),
        "actor": entry.actor,
        "fields": list(entry.fields),
        "purpose": entry.purpose,
        "accessed_at": _iso(entry.accessed_at),
    }


def rotation_job_as_json(job: KeyRotationJob) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "object": "key_rotation_job",
        "status": job.status,
        "target_kek_id": job.target_kek_id,
        "phase": job.phase,
        "total": job.total,
        "processed": job.processed,
        "percent": job.percent,
        "last_error": job.last_error,
        "requested_by": job.requested_by,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }
