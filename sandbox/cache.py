"""Django's Redis cache, with one Redis client per connection pool instead of one per call.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache
operation, and redis-py fills a dictionary of some eighty response callbacks in each
constructor: on an API request, whose throttles make five cache calls, that was the largest
single CPU cost (``bench/request_profile.py --profile``). A client is a thin, thread-safe
handle on its pool (redis-py's pools reset themselves after a fork), so one per pool serves
every thread of the process.

Its Lua scripts (``script``) run by a shorter path than redis-py's ``Script``: every API
request makes one such call (``sandbox.throttles.admit``), and redis-py's client spent more
CPU around the call (packing each word through its encoder, its retry and metrics wrappers)
than the round trip itself. ``LuaScript`` packs the command in one pass and sends it on a
connection of the same pool, with the connection's own retry policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import NoScriptError


def pack_command(*words: bytes | str | int | float) -> bytes:
    """A command in RESP, as redis-py's packer writes it (str in UTF-8, numbers as repr)."""
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        # Exact types first (an API request packs some twenty words), then the rest.
        data: bytes
        kind = word.__class__
        if kind is str:
            data = word.encode()  # type: ignore[union-attr]  # a str, as tested
        elif kind is int or kind is float:
            data = repr(word).encode()
        elif isinstance(word, bytes):
            data = word
        elif isinstance(word, str):
            data = word.encode()
        elif isinstance(word, bool) or not isinstance(word, int | float):
            raise TypeError(f"Cannot send {type(word).__name__} to Redis: {word!r}")
        else:
            data = repr(word).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class LuaScript:
    """A Lua script run with EVALSHA on a client's pool (loaded on a NOSCRIPT answer), as
    redis-py's ``Script`` does, by a shorter path (see the module)."""

    def __init__(self, client: Any, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: Sequence[str] = (), args: Iterable[Any] = ()) -> Any:
        command = pack_command("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return self._run(command)
        except NoScriptError:  # a server restarted or flushed since: load it, once
            self.client.script_load(self.source)
            return self._run(command)

    def _run(self, command: bytes) -> Any:
        pool = self.client.connection_pool
        connection = pool.get_connection()
        try:
            # As redis-py's client: a lost connection is dropped (the next send reconnects)
            # and the command retried, as often as the connection's policy says.
            return connection.retry.call_with_retry(
                lambda: self._send(connection, command),
                lambda error: connection.disconnect(),
            )
        finally:
            pool.release(connection)

    @staticmethod
    def _send(connection: Any, command: bytes) -> Any:
        connection.send_packed_command([command])
        return connection.read_response()


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]  # not in the stubs
        client = self._clients.get(id(pool))
        if client is None:
            # Pools live as long as the cache: their id names them for its lifetime.
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))  # type: ignore[attr-defined]
        return client

    def script(self, source: str) -> LuaScript:
        """A Lua script run on the write server (EVALSHA, loaded when missing), for what
        must be atomic across processes."""
        scripts: dict[str, LuaScript] = self.__dict__.setdefault("_scripts", {})
        if source not in scripts:
            scripts[source] = LuaScript(self.get_client(write=True), source)
        return scripts[source]


class SandboxRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def script(self, source: str) -> LuaScript:
        """A Lua script (``ReusingRedisCacheClient.script``)."""
        return cast(ReusingRedisCacheClient, self._cache).script(source)

    def client(self) -> Any:
        """The redis-py client of the write server, for pipelines of raw commands."""
        return cast(ReusingRedisCacheClient, self._cache).get_client(write=True)
