"""Redis session store: call state shared by every worker, so any worker continues any call.

Two round trips per event. `acquire` is one Lua script that takes a short per-call lock
(SET NX PX) and reads the state; `commit` is one script that checks the lock is still ours,
writes the state with its TTL and releases the lock. The lock only matters when two workers
get events of the same call at once (a gateway retry racing the original): the second waits,
then sees the first one's answer as a duplicate. Keys use a `{call id}` hash tag so a call's
lock and state sit in the same Redis Cluster slot. Commands go through `ivr.sessions.resp`,
one pipelined connection per process (see there for why not redis.asyncio). State is JSON
(never pickle: whoever can write to Redis must not run code here), through orjson, several
times cheaper than the json module for a call's state (`python -m bench.micro --only state`).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import Any

import orjson

from ivr.retry import Backoff
from ivr.sessions.base import LOCK_TTL_MS, Lease, LockTimeout, SessionError
from ivr.sessions.resp import RespClient, RespConnectionError, RespError, Script

LOCK_POLL = Backoff(first_s=0.002, cap_s=0.05)  # waiting for a call another worker holds

_ACQUIRE = Script("""
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GET', KEYS[2])}
end
return {0, false}
""")

_COMMIT = Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[1])
return 1
""")

_RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")

_FAILURES = (RespError, RespConnectionError)


class RedisSessionStore:
    shared = True

    def __init__(self, client: RespClient, prefix: str = "ivr:") -> None:
        self._redis = client
        self.prefix = prefix

    @classmethod
    async def open(cls, url: str, prefix: str = "ivr:") -> RedisSessionStore:
        try:
            client = RespClient.from_url(url)
        except ValueError as error:
            raise SessionError(str(error)) from error
        store = cls(client, prefix)
        if not await store.ping():
            await client.close()
            raise SessionError("Redis did not answer PING")
        return store

    def _keys(self, call_id: str) -> list[str]:
        return [f"{self.prefix}lock:{{{call_id}}}", f"{self.prefix}call:{{{call_id}}}"]

    async def _run(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._redis.evalsha(script, keys, args)
        except _FAILURES as error:
            raise SessionError(f"Redis error: {type(error).__name__}") from error

    async def acquire(self, call_id: str, wait_s: float = 3.0) -> Lease:
        token = secrets.token_hex(8)
        keys = self._keys(call_id)
        deadline = time.monotonic() + wait_s
        waits = 0
        while True:
            reply = await self._run(_ACQUIRE, keys, [token, LOCK_TTL_MS])
            taken, raw = reply if isinstance(reply, list) and len(reply) == 2 else (0, None)
            if taken:
                return Lease(call_id, token, orjson.loads(raw) if raw else None)
            if time.monotonic() >= deadline:
                raise LockTimeout(call_id)
            waits += 1
            await LOCK_POLL.wait(waits)

    async def commit(self, lease: Lease, data: dict[str, Any], ttl_s: int) -> bool:
        text = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        done = await self._run(_COMMIT, self._keys(lease.call_id), [lease.token, text, ttl_s])
        return bool(done)

    async def release(self, lease: Lease) -> None:
        with contextlib.suppress(SessionError):  # else the lock expires within LOCK_TTL_MS
            await self._run(_RELEASE, self._keys(lease.call_id)[:1], [lease.token])

    async def get(self, call_id: str) -> dict[str, Any] | None:
        try:
            raw = await self._redis.execute("GET", self._keys(call_id)[1])
        except _FAILURES as error:
            raise SessionError(f"Redis error: {type(error).__name__}") from error
        return orjson.loads(raw) if isinstance(raw, bytes) and raw else None

    async def claim(self, key: str, ttl_s: float) -> bool:
        ms = max(int(ttl_s * 1000), 1000)
        try:
            done = await self._redis.execute("SET", f"{self.prefix}once:{key}", "1", "NX", "PX", ms)
        except _FAILURES as error:
            raise SessionError(f"Redis error: {type(error).__name__}") from error
        return done == "OK"

    async def ping(self) -> bool:
        try:
            return await self._redis.execute("PING") == "PONG"
        except _FAILURES:
            return False

    async def close(self) -> None:
        await self._redis.close()
