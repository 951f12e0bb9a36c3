"""One representation per object: the API, the webhooks and the dashboard share these."""

from __future__ import annotations

from typing import Any

from sandbox.identities.credentials.models import Credential, Presentation, PresentationRequest


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def credential_json(credential: Credential) -> dict[str, Any]:
    return {
        "id": str(credential.pk),
        "object": "credential",
        "kind": credential.kind,
        "vct": credential.vct,
        "person": str(credential.person_id) if credential.person_id else None,
        "subject_node": str(credential.subject_node_id) if credential.subject_node_id else None,
        "holder_node": str(credential.holder_node_id),
        "order_id": credential.order_id or None,
        "claims": list(credential.claim_paths),
        "predicates": dict(credential.predicates),
        "issuer_kid": credential.issuer_kid,
        "holder_kid": credential.holder_kid,
        "status": credential.status,
        "issued_at": _iso(credential.issued_at),
        "expires_at": _iso(credential.expires_at),
    }


def presentation_json(presentation: Presentation) -> dict[str, Any]:
    return {
        "id": str(presentation.pk),
        "object": "presentation",
        "credential": str(presentation.credential_id),
        "person": str(presentation.person_id) if presentation.person_id else None,
        "audience": presentation.audience,
        "verifier_node": (
            str(presentation.verifier_node_id) if presentation.verifier_node_id else None
        ),
        "nonce": presentation.nonce,
        "disclosed_claims": list(presentation.disclosed_claims),
        "signed_by": presentation.signed_by,
        "created_at": _iso(presentation.created_at),
    }


def request_json(request: PresentationRequest) -> dict[str, Any]:
    return {
        "id": str(request.pk),
        "object": "presentation_request",
        "verifier_node": str(request.verifier_node_id),
        "vct": request.vct,
        "claims": list(request.claims),
        "order_id": request.order_id or None,
        "audience": request.audience,
        "nonce": request.nonce,
        "status": request.status,
        "disclosed": request.disclosed,
        "created_at": _iso(request.created_at),
        "expires_at": _iso(request.expires_at),
        "verified_at": _iso(request.verified_at),
    }
