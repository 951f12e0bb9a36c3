"""Delivery slots per webhook endpoint: at most SANDBOX_WEBHOOK_ENDPOINT_CONCURRENCY
attempts in flight to one node's webhook URL at once, so that a slow or dead receiver holds
a few of the webhook workers' threads, never all of them.

With REDIS_URL set, the slots are a sorted set per endpoint in Redis (shared by every
worker process): members are the attempts holding a slot, scores the time each took it.
A slot is given back when its attempt ends, and one whose worker died expires on its own,
``ttl`` (the attempt's timeout plus a margin) after it was taken. Without Redis (the
zero-setup default, one webhook worker) the same rules hold in the process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.conf import settings

KEY_PREFIX = "sandbox:webhook-slots:"


@dataclass(frozen=True)
class Grant:
    acquired: bool
    # When refused: how long the longest-running attempt to the endpoint has been in flight.
    oldest_age: float = 0.0


class Slots(Protocol):
    def acquire(self, endpoint: str, holder: str, *, limit: int, ttl: float) -> Grant: ...

    def acquire_many(self, endpoint: str, holders: list[str], *, limit: int, ttl: float) -> int:
        """Take a slot for each of ``holders`` in turn while the endpoint has one free;
        how many were taken (the first that many holders hold one)."""
        ...

    def release(self, endpoint: str, *holders: str) -> None: ...

    def in_flight(self, endpoint: str, *, ttl: float) -> int: ...


# KEYS[1] the endpoint's set; ARGV: now, ttl, holder, limit. Returns {1} or {0, oldest score}.
_ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return {1} end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
  return {1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, oldest[2]}
"""

# KEYS[1] the endpoint's set; ARGV: now, ttl, limit, holders... Returns how many it took.
_ACQUIRE_MANY = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local free = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[1])
local taken = 0
for i = 4, #ARGV do
  if taken >= free then break end
  redis.call('ZADD', KEYS[1], now, ARGV[i])
  taken = taken + 1
end
if taken > 0 then redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60) end
return taken
"""


class RedisSlots:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(_ACQUIRE)
        self.script_many = self.client.register_script(_ACQUIRE_MANY)

    def acquire(self, endpoint: str, holder: str, *, limit: int, ttl: float) -> Grant:
        now = time.time()
        answer: Any = self.script(keys=[KEY_PREFIX + endpoint], args=[now, ttl, holder, limit])
        if int(answer[0]) == 1:
            return Grant(acquired=True)
        return Grant(acquired=False, oldest_age=max(0.0, now - float(answer[1])))

    def acquire_many(self, endpoint: str, holders: list[str], *, limit: int, ttl: float) -> int:
        answer: Any = self.script_many(
            keys=[KEY_PREFIX + endpoint], args=[time.time(), ttl, limit, *holders]
        )
        return int(answer)

    def release(self, endpoint: str, *holders: str) -> None:
        if holders:
            self.client.zrem(KEY_PREFIX + endpoint, *holders)

    def in_flight(self, endpoint: str, *, ttl: float) -> int:
        key = KEY_PREFIX + endpoint
        self.client.zremrangebyscore(key, "-inf", time.time() - ttl)
        count: Any = self.client.zcard(key)  # redis-py's types allow an async client too
        return int(count)


class LocalSlots:
    """The same slots in one process (a single webhook worker process needs no Redis)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: dict[str, dict[str, float]] = {}  # endpoint -> holder -> taken (monotonic)

    def _live(self, endpoint: str, now: float, ttl: float) -> dict[str, float]:
        held = self.held.setdefault(endpoint, {})
        for holder in [h for h, taken in held.items() if taken <= now - ttl]:
            del held[holder]
        return held

    def acquire(self, endpoint: str, holder: str, *, limit: int, ttl: float) -> Grant:
        with self.lock:
            now = time.monotonic()
            held = self._live(endpoint, now, ttl)
            if holder not in held and len(held) < limit:
                held[holder] = now
            if holder in held:
                return Grant(acquired=True)
            return Grant(acquired=False, oldest_age=max(0.0, now - min(held.values())))

    def acquire_many(self, endpoint: str, holders: list[str], *, limit: int, ttl: float) -> int:
        with self.lock:
            now = time.monotonic()
            held = self._live(endpoint, now, ttl)
            taken = holders[: max(0, limit - len(held))]
            held.update(dict.fromkeys(taken, now))
            return len(taken)

    def release(self, endpoint: str, *holders: str) -> None:
        with self.lock:
            held = self.held.get(endpoint, {})
            for holder in holders:
                held.pop(holder, None)

    def in_flight(self, endpoint: str, *, ttl: float) -> int:
        with self.lock:
            return len(self._live(endpoint, time.monotonic(), ttl))


@cache
def _slots_for(url: str | None) -> Slots:
    return RedisSlots(url) if url else LocalSlots()


def endpoint_slots() -> Slots:
    """This process's slots: in Redis when REDIS_URL is set, else in the process."""
    return _slots_for(settings.REDIS_URL)
