"""Idempotency keys for money-moving requests, reusable by any endpoint.

``Idempotency-Key: <any string up to 255 characters>`` is required on every POST that
moves money. The key is claimed, per tenant, *inside the same database transaction as the
money movement* and the answer is stored before COMMIT, so a crash leaves either both or
neither. Concurrent requests with one key queue on the unique index; the later ones then
find the stored answer.

- same key, same request (method, path, canonical JSON body) → the original answer, with
  its status, and ``Idempotent-Replayed: true``;
- same key, another request → 409 ``idempotency_key_reused``;
- no key → 400 ``idempotency_key_required``.

A request refused with an error (4xx) writes nothing, not even its key: a retry with the
same key runs again, and may succeed once, say, the balance allows it.

Keys are kept ``SANDBOX_IDEMPOTENCY_KEY_DAYS`` days (7 unless set), then purged nightly
(``purge_expired_keys``); a request with a purged key runs as a new one, as Stripe's do
after 24 hours. The ledger itself keeps everything.

Use ``@idempotent`` on an APIView method, or ``run_idempotent`` from other code (the
dashboard does, with a key from its form).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from sandbox import clock
from sandbox.errors import ApplicationError, Conflict
from sandbox.events.models import PlatformClock
from sandbox.tenants.access import TenantApiRequest
from wallets.locking import run_retrying
from wallets.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAY_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: Any
    replayed: bool


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, the path and the body as canonical JSON (key order and
    whitespace do not matter); a body that is not JSON counts byte for byte."""
    try:
        canonical = json.dumps(
            json.loads(body or b"null"), sort_keys=True, separators=(",", ":")
        ).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(part)
        digest.update(b"\n")
    return digest.hexdigest()


def check_key(key: str | None) -> str:
    key = (key or "").strip()
    if not key:
        raise ApplicationError(
            f"Money-moving requests need an '{HEADER}' header: a unique string per operation, "
            "sent again unchanged when you retry.",
            code="idempotency_key_required",
        )
    if len(key) > MAX_KEY_LENGTH:
        raise ApplicationError(
            f"'{HEADER}' has at most {MAX_KEY_LENGTH} characters.", code="invalid_idempotency_key"
        )
    if "\x00" in key:  # PostgreSQL stores no NUL in text
        raise ApplicationError(
            f"'{HEADER}' cannot contain null characters.", code="invalid_idempotency_key"
        )
    return key


PlatformRow = tuple[int | None, datetime | None]  # offset_seconds, frozen_time


def _claim(
    *, tenant_id: UUID, key: str, fingerprint: str, method: str, path: str
) -> tuple[IdempotencyKey, bool, PlatformRow | None]:
    """Claim ``key``: the record and whether this request created it, and on PostgreSQL
    the platform clock's row (offset_seconds, frozen_time) read by the same statement."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A concurrent claim of the same key waits here until the other transaction
            # ends; then the key is either taken (nothing inserted) or free again. The
            # record's time is the database's: when keys were used is bookkeeping, not
            # business time that a test clock should move (and it saves a query). The
            # same statement reads the platform clock, which the request then uses
            # (``sandbox.clock.platform_row_read``) instead of asking in another round trip.
            cursor.execute(_CLAIM_SQL, [tenant_id, key, fingerprint, method, path[:300]])
            claimed_id, offset_seconds, frozen_time = cursor.fetchone()
        platform_row = (offset_seconds, frozen_time)
        if claimed_id is not None:
            record = IdempotencyKey(
                id=claimed_id, tenant_id=tenant_id, key=key, fingerprint=fingerprint
            )
            return record, True, platform_row
        return IdempotencyKey.objects.get(tenant_id=tenant_id, key=key), False, platform_row
    # SQLite: transactions take the write lock up front, so there is no race to lose.
    existing = IdempotencyKey.objects.filter(tenant_id=tenant_id, key=key).first()
    if existing is not None:
        return existing, False, None
    record = IdempotencyKey.objects.create(
        tenant_id=tenant_id,
        key=key,
        fingerprint=fingerprint,
        method=method,
        path=path[:300],
        created_at=timezone.now(),  # real time, as PostgreSQL's statement_timestamp()
    )
    return record, True, None


_CLAIM_SQL = f"""
WITH claim AS (
    INSERT INTO wallets_idempotencykey (tenant_id, key, fingerprint, method, path, created_at)
    VALUES (%s, %s, %s, %s, %s, statement_timestamp())
    ON CONFLICT (tenant_id, key) DO NOTHING
    RETURNING id
)
SELECT claim.id, platform.offset_seconds, platform.frozen_time
  FROM (SELECT 1) AS one
  LEFT JOIN claim ON true
  LEFT JOIN {PlatformClock._meta.db_table} AS platform ON platform.id = 1
"""


def _store_answer(record_id: int, status: int, answer: Any) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE wallets_idempotencykey SET response_status = %s,"
                " response_body = %s::jsonb WHERE id = %s",
                [status, json.dumps(answer, cls=DjangoJSONEncoder), record_id],
            )
        return
    IdempotencyKey.objects.filter(pk=record_id).update(response_status=status, response_body=answer)


def run_idempotent(
    *,
    tenant_id: UUID,
    key: str,
    fingerprint: str,
    method: str,
    path: str,
    execute: Callable[[], tuple[int, Any]],
) -> StoredAnswer:
    """Run ``execute`` (which returns status and JSON body) once per (tenant, key), in one
    retried transaction with the key's record; or return the stored answer."""
    key = check_key(key)

    def body() -> StoredAnswer:
        record, created, platform_row = _claim(
            tenant_id=tenant_id, key=key, fingerprint=fingerprint, method=method, path=path
        )
        if not created:
            if record.fingerprint != fingerprint:
                raise Conflict(
                    f"This {HEADER} was already used for a different request "
                    f"({record.method} {record.path}); use a new key for a new operation.",
                    code="idempotency_key_reused",
                )
            # A key is stored with its answer, in one transaction (a refused request
            # writes neither), so a key found here has its answer.
            assert record.response_status is not None
            return StoredAnswer(record.response_status, record.response_body, replayed=True)
        if platform_row is None:
            status, answer = execute()
        else:
            with clock.platform_row_read(*platform_row):
                status, answer = execute()
        _store_answer(record.pk, status, answer)
        return StoredAnswer(status, answer, replayed=False)

    return run_retrying(body)


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Make an APIView handler idempotent per ``Idempotency-Key`` (required). The handler
    returns a DRF Response with JSON-serialisable data; errors it raises write nothing."""

    @functools.wraps(view_method)
    def wrapper(view: APIView, request: TenantApiRequest, *args: Any, **kwargs: Any) -> Response:
        key = check_key(request.headers.get(HEADER))
        raw_body = request._request.body  # read before DRF parses; Django keeps a copy
        headers: dict[str, str] = {}
        method = request.method
        assert method is not None  # None only on an HttpRequest built by hand, never served

        def execute() -> tuple[int, Any]:
            response = view_method(view, request, *args, **kwargs)
            headers.update({k: v for k, v in response.items() if k.lower() == "location"})
            return response.status_code, response.data

        answer = run_idempotent(
            tenant_id=request.tenant_access.tenant.pk,
            key=key,
            fingerprint=request_fingerprint(method, request.path, raw_body),
            method=method,
            path=request.path,
            execute=execute,
        )
        response = Response(answer.body, status=answer.status, headers=headers)
        if answer.replayed:
            response[REPLAY_HEADER] = "true"
        return response

    return wrapper


PURGE_BATCH = 5_000


def purge_expired_keys(*, now: datetime | None = None) -> int:
    """Delete the keys older than ``SANDBOX_IDEMPOTENCY_KEY_DAYS`` (real time, like their
    ``created_at``); returns how many. In batches, so that no statement holds many row
    locks or runs long beside the money-moving requests that insert keys."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SANDBOX_IDEMPOTENCY_KEY_DAYS)
    purged = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("id", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            return purged
        purged += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]
