"""The answer ``@idempotent`` stores and sends is rendered by ``render_json``: the very bytes
DRF's ``JSONRenderer`` makes of it, by an encoder built once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from wallets.idempotency import JSON_RENDERER, render_json


@pytest.mark.parametrize(
    "data",
    [
        {"id": str(uuid.uuid4()), "amount": {"amount": "12.34", "currency": "USD"}},
        {"memo": "café 🙂 \u2028 line \u2029 paragraph", "métadonnées": {"a": [1, None, True]}},
        [{"index": 0, "status": "posted"}, {"index": 1, "status": "failed", "error": {}}],
        {
            "big": 2**70,
            "float": 1.5,
            "decimal": Decimal("1.10"),
            "at": datetime(2026, 1, 2, tzinfo=UTC),
        },
        {"uuid": uuid.UUID(int=7)},
        "text",
        [],
        None,
    ],
)
def test_it_renders_the_bytes_drfs_renderer_renders(data):
    assert render_json(data) == JSON_RENDERER.render(data)


def test_it_refuses_what_drfs_renderer_refuses():
    with pytest.raises(ValueError):
        JSON_RENDERER.render({"nan": float("nan")})
    with pytest.raises(ValueError):
        render_json({"nan": float("nan")})
