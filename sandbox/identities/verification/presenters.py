"""How sessions and social links look from outside: the API, webhooks (event data) and the
dashboard share these. A session never shows the phone code it sent, nor what was
submitted as entered: only what was checked and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.identities.verification import providers
from sandbox.identities.verification.models import SocialLink, VerificationSession


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def session_json(session: VerificationSession) -> dict[str, Any]:
    last_error = (
        {"code": session.last_error_code, "reason": session.last_error_reason}
        if session.last_error_code
        else None
    )
    return {
        "id": str(session.pk),
        "object": "identity.verification_session",
        "person_id": str(session.person_id),
        "node_id": str(session.node_id) if session.node_id else None,
        "type": session.type,
        "status": session.status,
        "last_error": last_error,
        "review_reason": session.review_reason or None,
        "phone_code_sent": bool(session.phone_code),
        "name_match_score": session.name_match_score,
        "verified_level": session.verified_level or None,
        "attempts": session.attempt,
        "created_at": _iso(session.created_at),
        "submitted_at": _iso(session.submitted_at),
        "verified_at": _iso(session.verified_at),
        "canceled_at": _iso(session.canceled_at),
        "redacted_at": _iso(session.redacted_at),
    }


def social_link_json(link: SocialLink) -> dict[str, Any]:
    provider = providers.PROVIDERS[link.provider]
    return {
        "id": str(link.pk),
        "object": "identity.social_link",
        "person_id": str(link.person_id),
        "provider": link.provider,
        "issuer": provider.issuer,
        "jwks_uri": provider.jwks_uri,
        "client_id": providers.client_id_for(link.tenant_id),
        "nonce": link.nonce,
        "status": link.status,
        "subject": link.subject or None,
        "created_at": _iso(link.created_at),
        "expires_at": _iso(link.expires_at),
        "linked_at": _iso(link.linked_at),
    }
