"""API keys authenticate from a record cached in Redis (sandbox.tenants.keycache): no
PostgreSQL round trip on a warm cache, and the key's lookup and the request's limits in one
Redis round trip. Whatever changes what a key grants forgets the record at once, and a
Redis that cannot be reached leaves PostgreSQL to decide."""

from __future__ import annotations

import ipaddress
import secrets
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from sandbox.dbtrace import RedisRoundTrips
from sandbox.tenants import keycache
from sandbox.tenants.models import ApiKey, Tenant
from sandbox.tenants.services import (
    SYSTEM,
    Actor,
    api_key_authenticate,
    api_key_revoke,
    hash_secret,
    tenant_change_status,
)
from sandbox.throttles import AddressThrottle, admit, redis_cache
from tests.conftest import RELAXED_THROTTLE_RATES
from tests.factories import TenantFactory, api_key_for
from tests.helpers import api_as, error_code

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI sets it)"),
]

NODES = "/api/v1/nodes"


def warm(party) -> None:
    """A first request reads PostgreSQL and caches the key."""
    assert party.api.get(NODES).status_code == 200


def stored_record(secret: str) -> bytes | None:
    return redis_cache().client().get(keycache.slot(hash_secret(secret)).record)


def fresh_address() -> str:
    """An address nobody else uses (the windows live in a Redis shared by test runs)."""
    return str(ipaddress.IPv6Address(bytes.fromhex("20010db8") + secrets.token_bytes(12)))


@pytest.fixture
def address() -> str:
    return fresh_address()


# --- The warm path ----------------------------------------------------------------------------


def test_a_cached_key_costs_no_postgresql_query_and_one_redis_round_trip(alice):
    warm(alice)

    with CaptureQueriesContext(connection) as queries, RedisRoundTrips() as trips:
        assert alice.api.get(NODES).status_code == 200

    assert not [q for q in queries if ApiKey._meta.db_table in q["sql"]]
    assert len(queries) == 1  # the list itself
    assert trips.count == 1, trips.messages  # the key, the key-failure guard, both limits


def test_the_record_holds_no_secret(alice):
    warm(alice)

    record = stored_record(alice.api_key)

    assert record is not None
    assert alice.api_key.encode() not in record
    assert hash_secret(alice.api_key).encode() not in record
    assert not list(redis_cache().client().scan_iter(match=f"*{alice.api_key}*"))


def test_a_cached_key_still_marks_its_last_use(alice, settings):
    settings.SANDBOX_API_KEY_LAST_USED_RESOLUTION = 0  # every use
    warm(alice)
    ApiKey.objects.update(last_used_at=None)

    assert alice.api.get(NODES).status_code == 200

    assert ApiKey.objects.get(tenant=alice.tenant).last_used_at is not None


# --- Every change to what a key grants takes effect at once -------------------------------------


def test_a_revoked_key_is_refused_on_its_next_request(alice):
    warm(alice)

    api_key_revoke(api_key=ApiKey.objects.get(tenant=alice.tenant), actor=SYSTEM)

    response = alice.api.get(NODES)
    assert response.status_code == 401 and error_code(response) == "invalid_api_key"


def test_a_suspended_tenants_keys_are_refused_then_work_again_on_reactivation(alice, operator_api):
    warm(alice)

    suspend = f"/api/v1/operator/tenants/{alice.tenant.pk}/suspend"
    assert operator_api.post(suspend, {"reason": "abuse"}, format="json").status_code == 200
    refused = alice.api.get(NODES)
    assert refused.status_code == 401 and error_code(refused) == "tenant_suspended"

    reactivate = f"/api/v1/operator/tenants/{alice.tenant.pk}/reactivate"
    assert operator_api.post(reactivate).status_code == 200
    assert alice.api.get(NODES).status_code == 200


def test_a_pending_tenants_key_works_once_approved(anonymous, operator):
    tenant = TenantFactory(status=Tenant.Status.PENDING)
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(tenant)}")
    waiting = anonymous.get(NODES)
    assert waiting.status_code == 403 and error_code(waiting) == "tenant_pending"

    tenant_change_status(tenant=tenant, action="approve", actor=Actor(user=operator))

    assert anonymous.get(NODES).status_code == 200


def test_a_renamed_tenant_is_seen_by_its_keys_at_once(alice):
    assert alice.api.get("/api/v1/tenant").json()["name"] == "Alice Pay"

    renamed = api_as(alice.owner).patch("/api/v1/tenant", {"name": "Alice Bank"}, format="json")

    assert renamed.status_code == 200
    assert alice.api.get("/api/v1/tenant").json()["name"] == "Alice Bank"


def test_a_lookup_that_read_the_key_before_its_revocation_cannot_cache_it(alice):
    place = keycache.slot(hash_secret(alice.api_key))
    seen = redis_cache().client().get(place.record)
    stale = api_key_authenticate(secret=alice.api_key)  # read before the revocation...

    api_key_revoke(api_key=ApiKey.objects.get(tenant=alice.tenant), actor=SYSTEM)
    keycache.remember(place, seen, stale)  # ...stored after it

    assert alice.api.get(NODES).status_code == 401


def test_the_revocation_forgets_the_key_again_once_committed(
    alice, django_capture_on_commit_callbacks
):
    place = keycache.slot(hash_secret(alice.api_key))
    stale = api_key_authenticate(secret=alice.api_key)
    with django_capture_on_commit_callbacks() as after_commit:
        api_key_revoke(api_key=ApiKey.objects.get(tenant=alice.tenant), actor=SYSTEM)
    # A request that read the key before the commit stores it over the first tombstone...
    keycache.remember(place, redis_cache().client().get(place.record), stale)
    assert keycache.load(hash_secret(alice.api_key), stored_record(alice.api_key)) is not None

    for callback in after_commit:  # ...and the commit forgets it again
        callback()

    assert stored_record(alice.api_key).startswith(keycache.TOMBSTONE)
    assert alice.api.get(NODES).status_code == 401


# --- Limits counted with the key ----------------------------------------------------------------


def test_admissions_at_once_never_count_more_than_the_limit(alice, address, settings):
    """Forty requests at once, a limit of ten: the one script counts exactly ten."""
    settings.SANDBOX_THROTTLE_RATES = {**RELAXED_THROTTLE_RATES, "address": "10/minute"}
    # Warmed from an address of its own: 127.0.0.1's window is shared with every other test.
    alice.api.defaults["REMOTE_ADDR"] = fresh_address()
    warm(alice)
    secret_hash = hash_secret(alice.api_key)
    place = keycache.slot(secret_hash)

    def one(_: int) -> bool:
        request = SimpleNamespace(META={"REMOTE_ADDR": address})
        admit(
            request,
            throttles=[AddressThrottle()],
            key_hash=secret_hash,
            record_key=place.record,
            mark_key=place.mark,
            mark_seconds=60,
        )
        return AddressThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        passed = list(pool.map(one, range(40)))

    assert passed.count(True) == 10


def test_a_request_a_permission_refuses_counts_in_no_limit(alice, address, settings):
    settings.SANDBOX_THROTTLE_RATES = {**RELAXED_THROTTLE_RATES, "address": "2/minute"}
    alice.api.defaults["REMOTE_ADDR"] = address
    warm(alice)  # one of two

    for _ in range(3):  # operators only: 403, not counted
        assert alice.api.get("/api/v1/operator/tenants").status_code == 403

    assert alice.api.get(NODES).status_code == 200  # two of two
    throttled = alice.api.get(NODES)
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1


# --- Without Redis ---------------------------------------------------------------------------

UNREACHABLE_REDIS = {
    "default": {"BACKEND": "sandbox.cache.SandboxRedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


def test_with_redis_unreachable_postgresql_decides(alice, outsider, operator, settings):
    warm(alice)
    warm(outsider)
    api_key_revoke(api_key=ApiKey.objects.get(tenant=outsider.tenant), actor=SYSTEM)
    settings.SANDBOX_THROTTLE_RATES = dict.fromkeys(RELAXED_THROTTLE_RATES)  # limits off

    with override_settings(CACHES=UNREACHABLE_REDIS):
        assert alice.api.get(NODES).status_code == 200
        assert error_code(outsider.api.get(NODES)) == "invalid_api_key"
        tenant_change_status(tenant=alice.tenant, action="suspend", actor=Actor(user=operator))
        assert error_code(alice.api.get(NODES)) == "tenant_suspended"


def test_with_redis_unreachable_and_limits_on_a_key_is_answered_503_as_before(alice):
    warm(alice)

    with override_settings(CACHES=UNREACHABLE_REDIS):
        response = alice.api.get(NODES)

    assert response.status_code == 503 and error_code(response) == "service_unavailable"
