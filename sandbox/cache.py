"""Django's Redis cache, with one Redis client per connection pool instead of one per call.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache
operation, and redis-py fills a dictionary of some eighty response callbacks in each
constructor: on an API request, whose throttles make five cache calls, that was the largest
single CPU cost (``bench/request_profile.py --profile``). A client is a thin, thread-safe
handle on its pool (redis-py's pools reset themselves after a fork), so one per pool serves
every thread of the process.
"""

from __future__ import annotations

from typing import Any, cast

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


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

    def script(self, source: str) -> Any:
        """A Lua script run on the write server (EVALSHA, loaded once), for what must be
        atomic across processes."""
        scripts: dict[str, Any] = self.__dict__.setdefault("_scripts", {})
        if source not in scripts:
            scripts[source] = self.get_client(write=True).register_script(source)
        return scripts[source]


class SandboxRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def script(self, source: str) -> Any:
        """A Lua script (``ReusingRedisCacheClient.script``)."""
        return cast(ReusingRedisCacheClient, self._cache).script(source)

    def client(self) -> Any:
        """The redis-py client of the write server, for pipelines of raw commands."""
        return cast(ReusingRedisCacheClient, self._cache).get_client(write=True)
