"""The session store port: where per-call state lives between webhooks.

A call's state is saved after each event as plain JSON under its call id, so any worker
holding the same store can continue any call. `acquire` takes the call (a short lock across
processes) and loads it in one step; `commit` saves and releases in one step. A worker that
lost its lease (it overran the lock's lifetime) must not save: `commit` then returns False.

One deadline covers a webhook's store work: `acquire` is given it (a `loop.time()` instant),
stops waiting for the lock or retrying a failing store `COMMIT_RESERVE_S` before it, and the
lease carries it so that `commit` ends by it too; `release` never keeps the webhook waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_TTL_S = 3600  # a call state left behind by a lost gateway expires after an hour
ENDED_TTL_S = 900  # an ended call is kept a while so late duplicates find their answer
LOCK_TTL_MS = 5000  # longer than the 4 s webhook budget: only a dead worker's lock expires
COMMIT_RESERVE_S = 0.3  # what the commit keeps of a webhook's deadline, however long acquire took
DEFAULT_BUDGET_S = 2.0  # store work with no webhook deadline (token claims, lookups)


class SessionError(Exception):
    """The store could not be reached or answered nonsense."""


class LockTimeout(SessionError):
    """Another worker held the call for longer than we could wait."""


class StoreUnwritable(SessionError):
    """The store answers but refuses writes (a Redis replica: READONLY): not worth waiting on."""


@dataclass(slots=True)
class Lease:
    """A call taken for one event: its saved state (None if unknown), the lock token and the
    instant (`loop.time()`) by which the event's store work must be done (None: no limit)."""

    call_id: str
    token: str
    data: dict[str, Any] | None
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What `/readyz` says about the session store: `state` is `ok` (answers and takes
    writes), `read_only` (answers, but the node is a replica) or `down`."""

    state: str
    kind: str  # memory, standalone, sentinel, cluster
    role: str | None = None  # the role the node(s) serving writes report (master, slave)
    detail: str | None = None

    @property
    def writable(self) -> bool:
        return self.state == "ok"

    def as_dict(self) -> dict[str, str]:
        out = {"state": self.state, "kind": self.kind}
        if self.role is not None:
            out["role"] = self.role
        if self.detail is not None:
            out["detail"] = self.detail
        return out


class SessionStore(Protocol):
    shared: bool  # True when other processes can continue this process's calls

    async def acquire(
        self, call_id: str, wait_s: float = 3.0, *, deadline: float | None = None
    ) -> Lease:
        """Lock the call against other processes and load its state; raise LockTimeout, or
        SessionError when the store cannot do it by `deadline` less COMMIT_RESERVE_S."""
        ...

    async def commit(self, lease: Lease, data: dict[str, Any], ttl_s: int) -> bool:
        """Save the state and release the lock atomically, by the lease's deadline; False if
        the lease was lost."""
        ...

    async def release(self, lease: Lease) -> None:
        """Release the lock without saving (the event changed nothing); never waits long."""
        ...

    async def get(self, call_id: str) -> dict[str, Any] | None: ...

    async def claim(self, key: str, ttl_s: float, *, since: float | None = None) -> bool:
        """Remember `key` for `ttl_s`; True only the first time (token replay protection).
        `since`: when the claimed thing was made (unix time); a store that cannot have seen
        claims made before then (in memory, started later) refuses it as possibly used."""
        ...

    async def ping(self) -> bool: ...

    async def health(self) -> StoreHealth:
        """Whether the store answers and takes writes (for `/readyz`)."""
        ...

    async def close(self) -> None: ...
