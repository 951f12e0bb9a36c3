"""API key records in Redis: a request authenticates without a PostgreSQL round trip.

A record holds what a request needs of its key and of the key's tenant (the two rows, as
the key lookup reads them), never the secret: it is found by the secret's SHA-256, which
PostgreSQL stores too. Its first byte tells the admission script (``sandbox.throttles.
admit``) whether the record admits a request (a key of an active tenant: then the
request's limits are counted in the same round trip) or not (the tenant is suspended or
pending: the request is refused as from the database). Only live keys have a record.

A record stays true because whatever changes what a key grants (revoking it; the status
or the name of its tenant) calls ``forget`` in its transaction, which puts a tombstone (a
random value) where the record was, now and again once the transaction has committed. A
record is stored only over the value seen before PostgreSQL was read (compare-and-set,
``remember``), so a request that read the rows before the change committed cannot store
them over the change's tombstone. A record lives ``SANDBOX_API_KEY_CACHE_SECONDS`` at
most: that bounds a stale record if Redis could not be told (it was unreachable at the
commit; the error is logged).

Without Redis (local memory) nothing is cached: one process's memory would not hear of
another's changes. With Redis unreachable, requests read PostgreSQL, as before.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from sandbox.cache import SandboxRedisCache
from sandbox.rows import RowLoader
from sandbox.tenants.models import ApiKey, Tenant
from sandbox.throttles import redis_cache

logger = logging.getLogger(__name__)

_KEY_FIELDS = [f.attname for f in ApiKey._meta.concrete_fields]
_TENANT_FIELDS = [f.attname for f in Tenant._meta.concrete_fields]
_HASH_AT = _KEY_FIELDS.index("secret_hash")
# Every API request builds the two instances: what ``from_db`` makes, for less CPU.
_key_loaded = RowLoader(ApiKey, _KEY_FIELDS)
_tenant_loaded = RowLoader(Tenant, _TENANT_FIELDS)
# Records of another layout (a deploy that added a column) are other names, never misread.
_LAYOUT = hashlib.sha256(repr((_KEY_FIELDS, _TENANT_FIELDS)).encode()).hexdigest()[:8]

ADMITS, REFUSES, TOMBSTONE = b"1", b"0", b"-"

# KEYS[1] the record, KEYS[2] the mark of the key's last use; ARGV: the value seen before
# reading PostgreSQL ('' for none), the record, its lifetime (ms), the time until the next
# use is to be marked (ms; '0': every use is). Stores the record only over what was seen;
# answers 1 if it did.
REMEMBER = """
if ARGV[4] ~= '0' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[4]) end
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


def enabled() -> bool:
    return redis_cache() is not None


@dataclass(frozen=True)
class Slot:
    """Where one key's record and the mark of its last use live (stored key names)."""

    record: str
    mark: str


def slot(secret_hash: str, backend: SandboxRedisCache | None = None) -> Slot:
    """``backend``: ``redis_cache()``, if the caller has it already."""
    if backend is None:
        backend = redis_cache()
    assert backend is not None
    return Slot(
        record=backend.make_key(f"apikey:{_LAYOUT}:{secret_hash}"),
        mark=backend.make_key(f"apikey-used:{secret_hash}"),
    )


def lifetime_ms() -> int:
    return settings.SANDBOX_API_KEY_CACHE_SECONDS * 1000


def dump(api_key: ApiKey) -> bytes:
    """The record of a live key (with its tenant), without the secret's hash."""
    key_values = [getattr(api_key, name) for name in _KEY_FIELDS]
    key_values[_HASH_AT] = None
    tenant = api_key.tenant
    tenant_values = [getattr(tenant, name) for name in _TENANT_FIELDS]
    flag = ADMITS if tenant.status == Tenant.Status.ACTIVE else REFUSES
    return flag + pickle.dumps((key_values, tenant_values), protocol=pickle.HIGHEST_PROTOCOL)


# Records decoded lately, by their bytes: a key's record is the same bytes on every request
# until it changes, and unpickling its UUIDs and times cost more than building the two
# model instances from them. The values (UUIDs, text, times, None) are immutable and
# shared; every request gets lists and instances of its own.
_DECODED: dict[bytes, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
_DECODED_AT_MOST = 256


def _decoded(value: bytes) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    decoded = _DECODED.get(value)
    if decoded is None:
        # Only this code writes these names, in the Redis that holds Django's pickled cache.
        key_values, tenant_values = pickle.loads(value[1:])
        decoded = (tuple(key_values), tuple(tenant_values))
        if len(_DECODED) >= _DECODED_AT_MOST:
            _DECODED.clear()  # a bound, not an LRU: the live keys of a process are few
        _DECODED[value] = decoded
    return decoded


def load(secret_hash: str, value: bytes | None) -> ApiKey | None:
    """The key (with its tenant) a record holds; None for no record or a tombstone."""
    if not value or value[:1] == TOMBSTONE:
        return None
    key_record, tenant_values = _decoded(value)
    key_values = list(key_record)
    key_values[_HASH_AT] = secret_hash
    api_key = _key_loaded(key_values)
    api_key._state.fields_cache["tenant"] = _tenant_loaded(tenant_values)
    return api_key


def remember(place: Slot, seen: bytes | None, api_key: ApiKey) -> None:
    """Cache a live key read from PostgreSQL (``api_key_authenticate``, which marked its
    use if due), unless its record changed since ``seen``; its next use is marked when
    ``last_used_at`` is a resolution old."""
    backend = redis_cache()
    assert backend is not None
    resolution = settings.SANDBOX_API_KEY_LAST_USED_RESOLUTION * 1000
    next_mark = 0
    if resolution and api_key.last_used_at is not None:
        elapsed = (timezone.now() - api_key.last_used_at).total_seconds() * 1000
        next_mark = max(1, int(resolution - elapsed))
    backend.script(REMEMBER)(
        keys=[place.record, place.mark],
        args=[seen or b"", dump(api_key), lifetime_ms(), next_mark],
    )


def forget(secret_hashes: Iterable[str]) -> None:
    """Tombstones for these keys' records, now and once the current transaction commits
    (see the module). Now as well: the transaction's own later requests (and tests, whose
    transaction never commits) must not use the record either."""
    hashes = list(secret_hashes)
    if hashes and enabled():
        _bury(lambda: hashes)
        transaction.on_commit(lambda: _bury(lambda: hashes), robust=True)


def forget_tenant(tenant: Tenant) -> None:
    """Tombstones for the records of the tenant's live keys: its status or name changed.
    After the commit the keys are read again: one made meanwhile is buried too."""
    if enabled():

        def live_keys() -> list[str]:
            keys = ApiKey.objects.filter(tenant_id=tenant.pk, revoked_at__isnull=True)
            return list(keys.values_list("secret_hash", flat=True))

        _bury(live_keys)
        transaction.on_commit(lambda: _bury(live_keys), robust=True)


def _bury(secret_hashes: Callable[[], list[str]]) -> None:
    backend = redis_cache()
    assert backend is not None
    hashes = secret_hashes()
    try:
        pipeline = backend.client().pipeline(transaction=False)
        for secret_hash in hashes:
            tombstone = TOMBSTONE + uuid.uuid4().hex.encode()
            pipeline.set(slot(secret_hash).record, tombstone, px=lifetime_ms())
        pipeline.execute()
    except RedisError:
        # The change stands in PostgreSQL; a record Redis may still hold expires by itself.
        logger.exception("Could not forget %d cached API key record(s)", len(hashes))
