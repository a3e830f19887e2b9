"""Redis session store: call state shared by every worker, so any worker continues any call.

Two round trips per event. `acquire` is one Lua script that takes a short per-call lock
(SET NX PX) and reads the state; `commit` is one script that checks the lock is still ours,
writes the state with its TTL and releases the lock. The lock only matters when two workers
get events of the same call at once (a gateway retry racing the original): the second waits,
then sees the first one's answer as a duplicate. Keys use a `{call id}` hash tag so a call's
lock and state sit in the same Redis Cluster slot. State is JSON (never pickle: whoever can
write to Redis must not run code here), through orjson, several times cheaper than the json
module for a call's state (`python -m bench.micro --only state`).

Where Redis runs and how: `ivr.sessions.redis_url` (one server, Sentinel, Cluster, TLS);
which client: `ivr.sessions.redis_backends`. Failures are retried within the webhook's
deadline: a dropped connection, LOADING, MASTERDOWN, TRYAGAIN or CLUSTERDOWN after a growing
pause; READONLY (the node became a replica) after dropping the connections once (a Sentinel
client then asks the sentinels for the new primary; a DNS name that moved to the new primary
is resolved again), and at once a SessionError if the node is still a replica, so callers are
routed on without waiting and `/readyz` names the store `read_only`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from ivr.retry import Backoff
from ivr.sessions.base import (
    COMMIT_RESERVE_S,
    DEFAULT_BUDGET_S,
    LOCK_TTL_MS,
    Lease,
    LockTimeout,
    SessionError,
    StoreHealth,
    StoreUnwritable,
)
from ivr.sessions.redis_backends import (
    Backend,
    ReadOnly,
    Refused,
    Retryable,
    open_backend,
)
from ivr.sessions.redis_url import parse_redis_url
from ivr.sessions.resp import Arg, Script

T = TypeVar("T")

# The lock is ours if it is free or already holds our token: an attempt whose reply was lost
# (a connection cut during a failover) took it, and the retry must not wait for it to expire.
_ACQUIRE = Script("""
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return {0, false} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('GET', KEYS[2])}
""")

# A lock held by another worker refuses the save; a missing lock does not: a failover can
# lose the lock (taken on the old primary) without anyone else having taken the call, and a
# lease cannot have expired, the webhook's deadline (< 4 s) being shorter than its life (5 s).
_COMMIT = Script("""
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[1])
return 1
""")

_RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")

RETRY_BACKOFF = Backoff(first_s=0.02, cap_s=0.3)  # between attempts while Redis fails over
LOCK_POLL = Backoff(first_s=0.002, cap_s=0.05)  # waiting for a call another worker holds
RELEASE_BUDGET_S = 1.0  # a release left running after its webhook answered


class RedisSessionStore:
    shared = True

    def __init__(self, backend: Backend, prefix: str = "ivr:", *, target: str = "") -> None:
        self._redis = backend
        self.prefix = prefix
        self.target = target  # where, for /readyz (no credentials)
        self.kind = backend.kind
        self._releases: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(
        cls, url: str, prefix: str = "ivr:", *, client: str = "auto"
    ) -> RedisSessionStore:
        """Connect to what `url` names (see ivr.sessions.redis_url); SessionError if it is
        malformed or Redis does not answer. A replica answering is enough: `/readyz` says it."""
        try:
            target = parse_redis_url(url)
            backend = open_backend(target, client)
        except ValueError as error:
            raise SessionError(str(error)) from error
        store = cls(backend, prefix, target=target.describe())
        if not await store.ping():
            await backend.close()
            raise SessionError(f"Redis did not answer PING ({target.describe()})")
        return store

    def _keys(self, call_id: str) -> list[str]:
        return [f"{self.prefix}lock:{{{call_id}}}", f"{self.prefix}call:{{{call_id}}}"]

    async def _retrying(self, attempt: Callable[[float], Awaitable[T]], deadline: float) -> T:
        """`attempt(deadline)`'s result, retried on a failure that may pass, until `deadline`."""
        loop = asyncio.get_running_loop()
        failures = 0
        read_only = 0
        while True:
            try:
                return await attempt(deadline)
            except Refused as error:
                raise SessionError(f"Redis refused: {error}") from error
            except ReadOnly as error:
                read_only += 1
                if read_only > 1:
                    raise StoreUnwritable("Redis is read-only (a replica)") from error
                await self._redis.reconnect()
            except Retryable as error:
                failures += 1
                pause = RETRY_BACKOFF.delay(failures)
                if loop.time() + pause >= deadline:
                    raise SessionError(f"Redis unavailable by the deadline: {error}") from error
                await asyncio.sleep(pause)

    def _budget(self, deadline: float | None) -> float:
        if deadline is not None:
            return deadline
        return asyncio.get_running_loop().time() + DEFAULT_BUDGET_S

    async def acquire(
        self, call_id: str, wait_s: float = 3.0, *, deadline: float | None = None
    ) -> Lease:
        loop = asyncio.get_running_loop()
        token = secrets.token_hex(8)
        keys = self._keys(call_id)
        hard = self._budget(deadline)
        until = hard - COMMIT_RESERVE_S if deadline is not None else hard
        lock_until = min(loop.time() + wait_s, until)
        waits = 1
        pause = LOCK_POLL.delay(waits)
        script = self._redis.script
        args: list[Arg] = [token, LOCK_TTL_MS]
        while True:
            reply = await self._retrying(lambda at: script(_ACQUIRE, keys, args, at), until)
            taken, raw = reply if isinstance(reply, list) and len(reply) == 2 else (0, None)
            if taken:
                return Lease(call_id, token, orjson.loads(raw) if raw else None, hard)
            if loop.time() + pause >= lock_until:
                raise LockTimeout(call_id)
            await asyncio.sleep(pause)
            waits += 1
            pause = LOCK_POLL.delay(waits)

    async def commit(self, lease: Lease, data: dict[str, Any], ttl_s: int) -> bool:
        text = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        keys = self._keys(lease.call_id)
        args: list[Arg] = [lease.token, text, ttl_s]
        script = self._redis.script
        done = await self._retrying(
            lambda at: script(_COMMIT, keys, args, at, replicated=True),
            self._budget(lease.deadline),
        )
        return bool(done)

    async def release(self, lease: Lease) -> None:
        """Unlock in the background (the lock expires within LOCK_TTL_MS anyway): a frozen
        Redis must not hold the webhook's answer."""
        task = asyncio.get_running_loop().create_task(self._release(lease))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, lease: Lease) -> None:
        keys, script = self._keys(lease.call_id)[:1], self._redis.script
        args: list[Arg] = [lease.token]
        deadline = asyncio.get_running_loop().time() + RELEASE_BUDGET_S
        with contextlib.suppress(SessionError):
            await self._retrying(lambda at: script(_RELEASE, keys, args, at), deadline)

    async def _command(self, *args: Arg) -> Any:
        command = self._redis.command
        return await self._retrying(lambda at: command(*args, deadline=at), self._budget(None))

    async def get(self, call_id: str) -> dict[str, Any] | None:
        raw = await self._command("GET", self._keys(call_id)[1])
        return orjson.loads(raw) if isinstance(raw, bytes) and raw else None

    async def claim(self, key: str, ttl_s: float, *, since: float | None = None) -> bool:
        # Redis outlives the workers: a claim made before any of them started is still there
        ms = max(int(ttl_s * 1000), 1000)
        done = await self._command("SET", f"{self.prefix}once:{key}", "1", "NX", "PX", ms)
        return done in ("OK", b"OK", True)

    async def ping(self) -> bool:
        try:
            reply = await self._command("PING")
        except SessionError:
            return False
        return reply in ("PONG", b"PONG", True)

    async def health(self) -> StoreHealth:
        """`ok` when every node taking this store's writes says it is a primary (ROLE)."""
        try:
            roles = await self._retrying(self._redis.roles, self._budget(None))
        except SessionError as error:
            return StoreHealth("down", self.kind, detail=f"{self.target}: {error}")
        role = ",".join(sorted(set(roles))) or "unknown"
        if roles and all(role == "master" for role in roles):
            return StoreHealth("ok", self.kind, role, self.target)
        return StoreHealth("read_only", self.kind, role, f"{self.target}: not a primary")

    async def close(self) -> None:
        if self._releases:
            await asyncio.wait(self._releases, timeout=RELEASE_BUDGET_S)
        await self._redis.close()
