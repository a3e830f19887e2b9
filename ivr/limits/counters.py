"""Sliding-window counters and lock stamps, in memory (one process) or in Redis (every worker).

A window of `w` seconds is counted in fixed buckets of `w` seconds, and the count is the
current bucket plus the previous one weighted by the part of it still inside the window (the
sliding-window approximation: no burst of twice the limit at a bucket boundary, two keys per
counter whatever the traffic). Adding returns the count after the addition, atomically per
key, so parallel calls on several workers cannot all slip under a limit: each sees its own
increment. Undo is adding -1.

Keys are chosen by the caller (ivr.limits.guard hashes numbers and account numbers before
they get here, so Redis never holds them in clear). Redis keys carry the configured prefix
and expire two windows after their bucket.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from ivr.sessions.redis_py import redis_py_client
from ivr.sessions.redis_url import parse_redis_url


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    window_s: float
    amount: int = 1  # 0 reads the count, -1 undoes an earlier hit


def _bucket(now: float, window_s: float) -> int:
    return int(now // window_s)


def _weighted(current: float, previous: float, now: float, window_s: float) -> float:
    elapsed = (now % window_s) / window_s
    return current + previous * (1.0 - elapsed)


class Counters(Protocol):
    remote: bool  # True: answers cross the network, so each one is given a deadline

    async def add(self, hits: Sequence[Hit], now: float) -> list[float]:
        """Apply each hit; the weighted count of each counter after it."""
        ...

    async def clear(self, keys: Sequence[tuple[str, float]], now: float) -> None:
        """Forget counters (key, window) entirely."""
        ...

    async def locked_until(self, key: str) -> float:
        """The time a lock set with `lock` ends (0 if none)."""
        ...

    async def lock(self, key: str, until: float, now: float) -> None: ...

    async def close(self) -> None: ...


class MemoryCounters:
    """Counters of one process (a server without Redis is one process)."""

    remote = False  # answers at once: no deadline timer is armed around it

    def __init__(self) -> None:
        self._counts: dict[tuple[str, float, int], int] = {}
        self._locks: dict[str, float] = {}
        self._ops = 0

    async def add(self, hits: Sequence[Hit], now: float) -> list[float]:
        counts = self._counts
        results = []
        for hit in hits:
            bucket = _bucket(now, hit.window_s)
            key = (hit.key, hit.window_s, bucket)
            current = counts.get(key, 0) + hit.amount
            counts[key] = current
            previous = counts.get((hit.key, hit.window_s, bucket - 1), 0)
            results.append(_weighted(current, previous, now, hit.window_s))
        self._ops += 1
        if self._ops % 4096 == 0:
            self._sweep(now)
        return results

    async def clear(self, keys: Sequence[tuple[str, float]], now: float) -> None:
        for key, window_s in keys:
            bucket = _bucket(now, window_s)
            self._counts.pop((key, window_s, bucket), None)
            self._counts.pop((key, window_s, bucket - 1), None)

    async def locked_until(self, key: str) -> float:
        return self._locks.get(key, 0.0)

    async def lock(self, key: str, until: float, now: float) -> None:
        self._locks[key] = until

    def _sweep(self, now: float) -> None:
        """Drop buckets that no window reaches any more, and ended locks."""
        self._counts = {
            key: count for key, count in self._counts.items() if key[2] >= _bucket(now, key[1]) - 1
        }
        self._locks = {key: until for key, until in self._locks.items() if until > now}

    async def close(self) -> None:
        self._counts.clear()


# What a restarted, failed-over or demoted Redis answers for a moment: worth another try on a
# fresh connection (redis-py reconnects, and a Sentinel client finds the new primary).
_TRANSIENT = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
)
_BACKOFF_S = (0.05, 0.1)


async def _retrying(command: Callable[[], Awaitable[Any]]) -> Any:
    """`command`, tried again for a short while (_BACKOFF_S) while Redis is restarting or
    failing over, well inside the webhook's deadline. A retried
    INCRBY may count twice if only its reply was lost: that errs on the safe side."""
    for pause in _BACKOFF_S:
        try:
            return await command()
        except _TRANSIENT:
            await asyncio.sleep(pause)
    return await command()


class RedisCounters:
    """Counters shared by every worker using the same Redis and prefix (one round trip per
    `add`: a pipeline of INCRBY, EXPIRE and GET per hit)."""

    remote = True

    def __init__(self, client: aioredis.Redis | aioredis.RedisCluster, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisCounters:
        """The same Redis the session store uses, whatever its topology (standalone,
        Sentinel, Cluster, TLS: ivr.sessions.redis_url)."""
        client, _sentinel = redis_py_client(parse_redis_url(url))
        return cls(client, prefix)

    def _key(self, key: str, window_s: float, bucket: int) -> str:
        return f"{self._prefix}{key}:{window_s:g}:{bucket}"

    async def add(self, hits: Sequence[Hit], now: float) -> list[float]:
        async def run() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for hit in hits:
                bucket = _bucket(now, hit.window_s)
                name = self._key(hit.key, hit.window_s, bucket)
                pipe.incrby(name, hit.amount)
                pipe.expire(name, math.ceil(2 * hit.window_s))
                pipe.get(self._key(hit.key, hit.window_s, bucket - 1))
            replies: list[Any] = await pipe.execute()
            return replies

        replies: list[Any] = await _retrying(run)
        results = []
        for n, hit in enumerate(hits):
            current, previous = int(replies[3 * n]), int(replies[3 * n + 2] or 0)
            results.append(_weighted(current, previous, now, hit.window_s))
        return results

    async def clear(self, keys: Sequence[tuple[str, float]], now: float) -> None:
        names = []
        for key, window_s in keys:
            bucket = _bucket(now, window_s)
            names += [self._key(key, window_s, bucket), self._key(key, window_s, bucket - 1)]
        if names:
            await _retrying(lambda: self._redis.delete(*names))

    async def locked_until(self, key: str) -> float:
        value = await _retrying(lambda: self._redis.get(f"{self._prefix}lock:{key}"))
        return float(value) if value is not None else 0.0

    async def lock(self, key: str, until: float, now: float) -> None:
        ttl_ms = max(1, math.ceil((until - now) * 1000))
        name = f"{self._prefix}lock:{key}"
        await _retrying(lambda: self._redis.set(name, repr(until), px=ttl_ms))

    async def close(self) -> None:
        await self._redis.aclose()
