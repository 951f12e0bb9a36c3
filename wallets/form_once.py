"""A money-moving dashboard form runs once per its idempotency key, as an API request does
per its ``Idempotency-Key`` header: the form carries a fresh key (``OnceForm``'s hidden
field), so a double click or a reload gets the first answer instead of moving the money
twice, and the same key with other values is refused (``wallets.idempotency``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django import forms

from sandbox.tenants.access import TenantRequest
from wallets.idempotency import request_fingerprint, run_idempotent


def new_form_key() -> str:
    """A fresh key for one rendered form (hand-written ones too: a page's action buttons)."""
    return str(uuid.uuid4())


class OnceForm(forms.Form):
    """A form that moves money: each rendered form has a key of its own."""

    idempotency_key = forms.CharField(
        widget=forms.HiddenInput, max_length=255, initial=new_form_key
    )


def form_once(
    request: TenantRequest,
    *,
    key: str,
    body: Mapping[str, Any],
    execute: Callable[[], tuple[int, Any]],
) -> Any:
    """Run ``execute`` (status and JSON body) once per (tenant, ``key``) for the form's
    values ``body``; returns the first run's body."""
    answer = run_idempotent(
        tenant_id=request.tenant_access.tenant.pk,
        key=key,
        fingerprint=request_fingerprint(
            "POST", request.path, json.dumps(body, sort_keys=True).encode()
        ),
        method="POST",
        path=request.path,
        execute=execute,
    )
    return answer.body
