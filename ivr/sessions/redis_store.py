"""Redis session store: call state shared by every worker, so any worker continues any call.

Two round trips per event. `acquire` is one Lua script that takes a short per-call lock
(SET NX PX) and reads the state; `commit` is one script that checks the lock is still ours,
writes the state with its TTL and releases the lock. The lock only matters when two workers
get events of the same call at once (a gateway retry racing the original): the second waits,
then sees the first one's answer as a duplicate. Keys use a `{call id}` hash tag so a call's
lock and state sit in the same Redis Cluster slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from ivr.sessions.base import LOCK_TTL_MS, Lease, LockTimeout, SessionError

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GET', KEYS[2])}
end
return {0, false}
"""

_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[1])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisSessionStore:
    shared = True

    def __init__(self, client: aioredis.Redis, prefix: str = "ivr:") -> None:
        self._redis = client
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._commit = client.register_script(_COMMIT)
        self._release = client.register_script(_RELEASE)

    @classmethod
    async def open(cls, url: str, prefix: str = "ivr:") -> RedisSessionStore:
        client = aioredis.from_url(url, decode_responses=True)
        store = cls(client, prefix)
        if not await store.ping():
            await client.aclose()
            raise SessionError("Redis did not answer PING")
        return store

    def _keys(self, call_id: str) -> list[str]:
        return [f"{self.prefix}lock:{{{call_id}}}", f"{self.prefix}call:{{{call_id}}}"]

    async def acquire(self, call_id: str, wait_s: float = 3.0) -> Lease:
        token = secrets.token_hex(8)
        keys = self._keys(call_id)
        deadline = time.monotonic() + wait_s
        pause = 0.002
        while True:
            try:
                taken, raw = await self._acquire(keys=keys, args=[token, LOCK_TTL_MS])
            except RedisError as error:
                raise SessionError(f"Redis error: {type(error).__name__}") from error
            if taken:
                return Lease(call_id, token, json.loads(raw) if raw else None)
            if time.monotonic() >= deadline:
                raise LockTimeout(call_id)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def commit(self, lease: Lease, data: dict[str, Any], ttl_s: int) -> bool:
        text = json.dumps(data, separators=(",", ":"))
        try:
            keys = self._keys(lease.call_id)
            done = await self._commit(keys=keys, args=[lease.token, text, ttl_s])
        except RedisError as error:
            raise SessionError(f"Redis error: {type(error).__name__}") from error
        return bool(done)

    async def release(self, lease: Lease) -> None:
        with contextlib.suppress(RedisError):  # else the lock expires within LOCK_TTL_MS
            await self._release(keys=self._keys(lease.call_id)[:1], args=[lease.token])

    async def get(self, call_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._keys(call_id)[1])
        return json.loads(raw) if raw else None

    async def claim(self, key: str, ttl_s: float) -> bool:
        ms = max(int(ttl_s * 1000), 1000)
        try:
            return bool(await self._redis.set(f"{self.prefix}once:{key}", "1", nx=True, px=ms))
        except RedisError as error:
            raise SessionError(f"Redis error: {type(error).__name__}") from error

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
