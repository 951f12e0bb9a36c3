"""The Redis cache reuses one client per connection pool, and still works as Django's."""

import hashlib
import uuid

import pytest
import redis
from django.conf import settings
from redis.exceptions import ResponseError

from sandbox.cache import SandboxRedisCache, pack_command

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI sets it)")


class Word(str):
    """A subclass of str (a choice's value, say): packed as its text."""


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


# --- Lua scripts (``LuaScript``): redis-py's ``Script`` answers, by a shorter path ----------

ECHO = """
-- {tag}
return {{KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1, ARGV[3], false, redis.call('EXISTS', KEYS[2])}}
"""


def test_commands_are_packed_as_redis_py_packs_them(cache):
    words = ("EVALSHA", "ab", 2, "clé", b"\x00\xff", 1.5, 1765101234.123456, -7, "", Word("w"))
    pool = cache._cache.get_client(write=True).connection_pool
    connection = pool.get_connection()
    try:
        assert pack_command(*words) == b"".join(connection.pack_command(*words))
    finally:
        pool.release(connection)
    with pytest.raises(TypeError):
        pack_command("SET", "k", True)


def test_a_script_answers_as_redis_pys_and_loads_itself_when_the_server_lacks_it(cache):
    source = ECHO.format(tag=uuid.uuid4().hex)  # never loaded: the first call hears NOSCRIPT
    keys, args = ["k1", "k2"], ["é", 41, b"\x00raw"]
    client = cache._cache.get_client(write=True)
    assert client.script_exists(hashlib.sha1(source.encode()).hexdigest()) == [False]

    answer = cache.script(source)(keys=keys, args=args)

    assert answer == [b"k1", "é".encode(), 42, b"\x00raw", None, 0]
    assert answer == client.register_script(source)(keys=keys, args=args)
    assert cache.script(source) is cache.script(source)


def test_a_script_error_is_raised_and_a_connection_the_server_closed_replaced(cache):
    with pytest.raises(ResponseError):
        cache.script("return redis.call('NOPE')")()
    script = cache.script(ECHO.format(tag="closed"))
    pool = cache._cache.get_client(write=True).connection_pool
    connection = pool.get_connection()
    connection.send_command("CLIENT", "ID")
    client_id = connection.read_response()
    pool.release(connection)
    # The server closes the pool's idle connection (a restart, an idle timeout).
    assert redis.Redis.from_url(settings.REDIS_URL).client_kill_filter(_id=client_id) == 1

    assert script(keys=["a", "b"], args=["x", 1, "y"])[2] == 2
