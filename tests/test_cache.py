"""The Redis cache reuses one client per connection pool, and still works as Django's."""

import uuid

import pytest
from django.conf import settings

from sandbox.cache import SandboxRedisCache

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI sets it)")


@pytest.fixture
def cache():
    return SandboxRedisCache(settings.REDIS_URL, {"KEY_PREFIX": f"test-cache-{uuid.uuid4().hex}"})


def test_every_call_uses_the_same_client_of_its_pool(cache):
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client() is client
    assert cache._cache.get_client("any key", write=True) is client


def test_it_stores_reads_counts_and_forgets_like_djangos_redis_cache(cache):
    cache.set("history", [1.5, 2.5], 30)
    assert cache.get("history") == [1.5, 2.5]
    assert cache.add("history", [], 30) is False
    cache.set("n", 1, 30)
    assert cache.incr("n", 4) == 5
    cache.delete("history")
    assert cache.get("history", "gone") == "gone"
