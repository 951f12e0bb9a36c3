"""One representation of a credit standing and an attestation: the API, the
``credit.standing.updated`` webhooks and the dashboard show these."""

from __future__ import annotations

from typing import Any

from wallets.credit import scoring
from wallets.credit.models import CreditStanding, HistoryAttestation


def _subject(obj: CreditStanding | HistoryAttestation) -> dict[str, Any]:
    if obj.person_id is not None:
        return {"subject_type": "person", "subject_id": str(obj.person_id)}
    return {"subject_type": "node", "subject_id": str(obj.node_id)}


def standing_json(standing: CreditStanding) -> dict[str, Any]:
    return {
        "id": str(standing.pk),
        "object": "credit_standing",
        **_subject(standing),
        "score": standing.score,
        "reason_codes": list(standing.reason_codes),
        "reasons": [scoring.REASON_TEXT.get(code, code) for code in standing.reason_codes],
        "verification_level": standing.verification_level,
        "points": dict(standing.points),
        "metrics": dict(standing.metrics),
        "trigger": standing.trigger,
        "day": standing.day.isoformat(),
        "as_of": standing.as_of.isoformat(),
    }


def attestation_json(attestation: HistoryAttestation) -> dict[str, Any]:
    return {
        "id": str(attestation.pk),
        "object": "history_attestation",
        **_subject(attestation),
        "kind": attestation.kind,
        "statement": attestation.statement,
        "value": attestation.value,
        "window_start": attestation.window_start.isoformat(),
        "window_end": attestation.window_end.isoformat(),
        "evidence": dict(attestation.evidence),
        "issued_at": attestation.issued_at.isoformat(),
        "standing_id": str(attestation.standing_id),
    }
