"""In-memory session store: the default for one process, nothing to install.

State is kept as a pickled snapshot, not live objects, so a discarded event (deadline overrun,
lost lease) cannot leak half-applied changes into the stored call, exactly as with Redis, and
each load is a fresh copy. Pickle rather than JSON: a third of the cost of the JSON round trip
per event; the data is the server's own plain state, never anything read from outside.
Only the values are pickled, the keys are kept once per shape (every call's state has the same
keys in the same order): unpickling every key string per load cost more than the values
(`python -m bench.micro --only state` prints both round trips).
In-process serialisation of a call's events is the server core's per-call lock.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from typing import Any

from ivr.sessions.base import Lease, StoreHealth

SWEEP_EVERY_S = 60.0


class MemorySessionStore:
    shared = False

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        # call id -> (keys, pickle of the values, expires at)
        self._calls: dict[str, tuple[tuple[str, ...], bytes, float]] = {}
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}  # one keys tuple per shape
        self._claims: dict[str, float] = {}
        self._next_sweep = 0.0
        # claims are remembered from this second on (whole seconds: a token's `iat`)
        self._remembers_since = float(int(wall_clock()))

    async def acquire(
        self, call_id: str, wait_s: float = 3.0, *, deadline: float | None = None
    ) -> Lease:
        return Lease(call_id, "", await self.get(call_id), deadline)

    async def commit(self, lease: Lease, data: dict[str, Any], ttl_s: int) -> bool:
        at = self._clock() + ttl_s
        keys = tuple(data)
        shared = self._shapes.get(keys)
        if shared is None:
            shared = keys
            if len(self._shapes) < 64:  # the server saves one shape; never grow without bound
                self._shapes[keys] = keys
        values = pickle.dumps(tuple(data.values()), pickle.HIGHEST_PROTOCOL)
        self._calls[lease.call_id] = (shared, values, at)
        return True

    async def release(self, lease: Lease) -> None:
        return None

    async def get(self, call_id: str) -> dict[str, Any] | None:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        entry = self._calls.get(call_id)
        if entry is None or entry[2] <= now:
            return None
        keys, values, _ = entry
        return dict(zip(keys, pickle.loads(values), strict=True))  # our own bytes, never input

    async def claim(self, key: str, ttl_s: float, *, since: float | None = None) -> bool:
        if since is not None and since < self._remembers_since:
            return False  # made before this process: its claims died with the last one
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        if self._claims.get(key, 0.0) > now:
            return False
        self._claims[key] = now + max(ttl_s, 1.0)
        return True

    async def ping(self) -> bool:
        return True

    async def health(self) -> StoreHealth:
        return StoreHealth("ok", "memory")

    async def close(self) -> None:
        self._calls.clear()
        self._claims.clear()

    def __len__(self) -> int:
        return len(self._calls)

    def _sweep(self, now: float) -> None:
        """Drop expired entries: a full scan, at most once a minute (no per-save cost)."""
        self._next_sweep = now + SWEEP_EVERY_S
        self._calls = {k: v for k, v in self._calls.items() if v[2] > now}
        self._claims = {k: at for k, at in self._claims.items() if at > now}
