"""The session store port: where per-call state lives between webhooks.

A call's state is saved after each event as plain JSON under its call id, so any worker
holding the same store can continue any call. `acquire` takes the call (a short lock across
processes) and loads it in one step; `commit` saves and releases in one step. A worker that
lost its lease (it overran the lock's lifetime) must not save: `commit` then returns False.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_TTL_S = 3600  # a call state left behind by a lost gateway expires after an hour
ENDED_TTL_S = 900  # an ended call is kept a while so late duplicates find their answer
LOCK_TTL_MS = 5000  # longer than the 4 s webhook budget: only a dead worker's lock expires


class SessionError(Exception):
    """The store could not be reached or answered nonsense."""


class LockTimeout(SessionError):
    """Another worker held the call for longer than we could wait."""


@dataclass(slots=True)
class Lease:
    """A call taken for one event: its saved state (None if unknown) and the lock token."""

    call_id: str
    token: str
    data: dict[str, Any] | None


class SessionStore(Protocol):
    shared: bool  # True when other processes can continue this process's calls

    async def acquire(self, call_id: str, wait_s: float = 3.0) -> Lease:
        """Lock the call against other processes and load its state; raise LockTimeout."""
        ...

    async def commit(self, lease: Lease, data: dict[str, Any], ttl_s: int) -> bool:
        """Save the state and release the lock atomically; False if the lease was lost."""
        ...

    async def release(self, lease: Lease) -> None:
        """Release the lock without saving (the event changed nothing)."""
        ...

    async def get(self, call_id: str) -> dict[str, Any] | None: ...

    async def claim(self, key: str, ttl_s: float) -> bool:
        """Remember `key` for `ttl_s`; True only the first time (token replay protection)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
