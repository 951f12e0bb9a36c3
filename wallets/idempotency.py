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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.compat import LONG_SEPARATORS, SHORT_SEPARATORS
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from sandbox import clock, writebehind
from sandbox.db.postgresql.prepared import prepared
from sandbox.errors import ApplicationError, Conflict
from sandbox.events.models import PlatformClock
from sandbox.tenants.access import TenantApiRequest
from wallets.locking import Statement, combinable, run_retrying
from wallets.models import IdempotencyKey
from wallets.posting import reading_ahead

HEADER = "Idempotency-Key"
_HEADER_META = "HTTP_" + HEADER.upper().replace("-", "_")  # its name in a WSGI environ
MAX_KEY_LENGTH = 255
REPLAY_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: Any
    replayed: bool
    rendered: bytes | None = None  # the body as stored, in the API's JSON, if just made


_UNPARSED: Any = object()
# ``json.dumps(value, sort_keys=True, separators=(",", ":"))``, whose encoder ``dumps``
# would build again for every money-moving request.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def request_fingerprint(method: str, path: str, body: bytes, *, parsed: Any = _UNPARSED) -> str:
    """SHA-256 of the method, the path and the body as canonical JSON (key order and
    whitespace do not matter); a body that is not JSON counts byte for byte. ``parsed``:
    the body as the caller's JSON parser already read it (the API's), not parsed again."""
    try:
        value = json.loads(body or b"null") if parsed is _UNPARSED else parsed
        canonical = _CANONICAL.encode(value).encode()
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
    *,
    tenant_id: UUID,
    key: str,
    fingerprint: str,
    method: str,
    path: str,
    along: Sequence[Statement] = (),
) -> tuple[int | None, IdempotencyKey | None, PlatformRow | None]:
    """Claim ``key``: the id of the record this request created, or else the record another
    request made; on PostgreSQL also the platform clock's row (offset_seconds, frozen_time)
    read by the same statement, and the ``along`` statements run right after it, in the
    same round trip. No model instance for a key just claimed: only its id is needed."""
    if connection.vendor == "postgresql":
        # A concurrent claim of the same key waits here until the other transaction ends;
        # then the key is either taken (nothing inserted) or free again. The record's time
        # is the database's: when keys were used is bookkeeping, not business time that a
        # test clock should move (and it saves a query). The same statement reads the
        # platform clock, which the request then uses (``sandbox.clock.platform_row_read``)
        # instead of asking in another round trip.
        params = {
            "claim_tenant": tenant_id,
            "claim_key": key,
            "claim_fingerprint": fingerprint,
            "claim_method": method,
            "claim_path": path[:300],
        }
        claimed_id, offset_seconds, frozen_time = _first_statements(_CLAIM_SQL, params, along)
        platform_row = (offset_seconds, frozen_time)
        if claimed_id is not None:
            return claimed_id, None, platform_row
        return None, IdempotencyKey.objects.get(tenant_id=tenant_id, key=key), platform_row
    # SQLite: transactions take the write lock up front, so there is no race to lose.
    existing = IdempotencyKey.objects.filter(tenant_id=tenant_id, key=key).first()
    if existing is not None:
        return None, existing, None
    record = IdempotencyKey.objects.create(
        tenant_id=tenant_id,
        key=key,
        fingerprint=fingerprint,
        method=method,
        path=path[:300],
        created_at=timezone.now(),  # real time, as PostgreSQL's statement_timestamp()
    )
    return record.pk, None, None


def _first_statements(sql: str, params: dict[str, Any], along: Sequence[Statement]) -> Any:
    """Run ``sql`` (answering its one row) and then the ``along`` statements, in one round
    trip: one message with them all (simple query protocol), each bound here
    (``writebehind.bind``: prepared statements' EXECUTEs), whose results come back one
    after the other."""
    with writebehind.cursor() as cursor:
        if not along or not combinable():
            cursor.execute(sql, params)
            row = cursor.fetchone()
            for statement in along:
                cursor.execute(statement.sql, statement.params)
                statement.done(cursor.fetchall())
            return row
        bind = writebehind.bind
        cursor.execute(";\n".join([bind(sql, params), *(bind(s.sql, s.params) for s in along)]))
        row = cursor.fetchone()
        for statement in along:
            cursor.nextset()
            statement.done(cursor.fetchall())
        return row


_CLAIM_SQL = prepared(
    "claim_idempotency_key",
    f"""
WITH claim AS (
    INSERT INTO wallets_idempotencykey (tenant_id, key, fingerprint, method, path, created_at)
    VALUES (%(claim_tenant)s, %(claim_key)s, %(claim_fingerprint)s, %(claim_method)s,
            %(claim_path)s, statement_timestamp())
    ON CONFLICT (tenant_id, key) DO NOTHING
    RETURNING id
)
SELECT claim.id, platform.offset_seconds, platform.frozen_time
  FROM (SELECT 1) AS one
  LEFT JOIN claim ON true
  LEFT JOIN {PlatformClock._meta.db_table} AS platform ON platform.id = 1
""",
)


_STORE_ANSWER_SQL = prepared(
    "store_idempotent_answer",
    "UPDATE wallets_idempotencykey SET response_status = %s, response_body = %s::jsonb"
    " WHERE id = %s",
)


def _store_answer(record_id: int, status: int, answer: Any) -> bytes | None:
    """Store the answer; on PostgreSQL, answer it rendered as the API's JSON, which is what
    is stored: the response sends those bytes instead of rendering the body again."""
    if connection.vendor == "postgresql":
        rendered = render_json(answer)
        # Nobody reads its result: it goes with the COMMIT (``sandbox.writebehind``).
        writebehind.write(_STORE_ANSWER_SQL, [status, rendered.decode(), record_id])
        return rendered
    IdempotencyKey.objects.filter(pk=record_id).update(response_status=status, response_body=answer)
    return None


JSON_RENDERER = JSONRenderer()
# Its encoder, built once: ``JSONRenderer.render`` builds one per call.
_ENCODER = JSON_RENDERER.encoder_class(
    ensure_ascii=JSON_RENDERER.ensure_ascii,
    allow_nan=not JSON_RENDERER.strict,
    separators=SHORT_SEPARATORS if JSON_RENDERER.compact else LONG_SEPARATORS,
)


def render_json(data: Any) -> bytes:
    """``JSON_RENDERER.render(data)``: the same bytes (the API's JSON, with U+2028 and U+2029
    escaped as DRF escapes them), for less CPU on every money-moving request."""
    if data is None:
        return b""
    text = _ENCODER.encode(data)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


class _RenderedResponse(Response):
    """A Response whose JSON body was rendered already, to be stored: sent as it is unless
    the client negotiated another rendering (say, ``Accept: application/json; indent=2``)."""

    def __init__(self, data: Any, *, rendered: bytes, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.rendered = rendered

    @property
    def rendered_content(self) -> Any:
        renderer = getattr(self, "accepted_renderer", None)
        media_type = getattr(self, "accepted_media_type", "")
        if type(renderer) is not JSONRenderer or ";" in (media_type or ""):
            return super().rendered_content
        self["Content-Type"] = renderer.media_type
        return self.rendered


def run_idempotent(
    *,
    tenant_id: UUID,
    key: str,
    fingerprint: str,
    method: str,
    path: str,
    execute: Callable[[], tuple[int, Any]],
    along: Sequence[Statement] = (),
) -> StoredAnswer:
    """Run ``execute`` (which returns status and JSON body) once per (tenant, key), in one
    retried transaction with the key's record; or return the stored answer. On PostgreSQL
    ``along`` (reads ``execute`` needs, such as the accounts of a transfer and the posting
    checks' reads, ``wallets.posting.check_reads``) are sent with the claim, in its round
    trip."""
    key = check_key(key)

    def body() -> StoredAnswer:
        # What the posting checks read with the claim serves this attempt only.
        with reading_ahead():
            return attempt()

    def attempt() -> StoredAnswer:
        claimed_id, record, platform_row = _claim(
            tenant_id=tenant_id,
            key=key,
            fingerprint=fingerprint,
            method=method,
            path=path,
            along=along,
        )
        if record is not None:
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
        assert claimed_id is not None
        rendered = _store_answer(claimed_id, status, answer)
        return StoredAnswer(status, answer, replayed=False, rendered=rendered)

    return run_retrying(body)


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Make an APIView handler idempotent per ``Idempotency-Key`` (required). The handler
    returns a DRF Response with JSON-serialisable data; errors it raises write nothing."""

    @functools.wraps(view_method)
    def wrapper(view: APIView, request: TenantApiRequest, *args: Any, **kwargs: Any) -> Response:
        django_request = request._request  # read directly, not through DRF's proxy
        # The one header, read directly: ``request.headers`` builds a dictionary of all.
        key = check_key(django_request.META.get(_HEADER_META))
        raw_body = django_request.body  # read before DRF parses; Django keeps a copy
        headers: dict[str, str] = {}
        method, path = django_request.method, django_request.path
        assert method is not None  # None only on an HttpRequest built by hand, never served

        def execute() -> tuple[int, Any]:
            response = view_method(view, request, *args, **kwargs)
            headers.update({k: v for k, v in response.items() if k.lower() == "location"})
            return response.status_code, response.data

        # A view may name reads its handler needs, to go with the claim (``claim_along``).
        along = getattr(view, "claim_along", None)
        answer = run_idempotent(
            tenant_id=request.tenant_access.tenant.pk,
            key=key,
            # The body as DRF already parsed it (``ApiView.initial``): not parsed again.
            fingerprint=request_fingerprint(
                method, path, raw_body, parsed=request.data if raw_body else _UNPARSED
            ),
            method=method,
            path=path,
            execute=execute,
            along=along(request) if along is not None else (),
        )
        if answer.rendered is not None:
            response: Response = _RenderedResponse(
                answer.body, rendered=answer.rendered, status=answer.status, headers=headers
            )
        else:
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
