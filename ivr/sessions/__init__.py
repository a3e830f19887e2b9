"""Per-call state stores: in memory (one process) or Redis (shared by every worker)."""

from __future__ import annotations

from ivr.sessions.base import (
    COMMIT_RESERVE_S,
    DEFAULT_TTL_S,
    ENDED_TTL_S,
    Lease,
    LockTimeout,
    SessionError,
    SessionStore,
    StoreHealth,
    StoreUnwritable,
)
from ivr.sessions.memory import MemorySessionStore


async def open_session_store(
    redis_url: str | None, prefix: str = "ivr:", *, client: str = "auto"
) -> SessionStore:
    """Redis when a URL is given (any form ivr.sessions.redis_url reads), else in memory."""
    if not redis_url:
        return MemorySessionStore()
    from ivr.sessions.redis_store import RedisSessionStore

    return await RedisSessionStore.open(redis_url, prefix, client=client)


__all__ = [
    "COMMIT_RESERVE_S",
    "DEFAULT_TTL_S",
    "ENDED_TTL_S",
    "Lease",
    "LockTimeout",
    "MemorySessionStore",
    "SessionError",
    "SessionStore",
    "StoreHealth",
    "StoreUnwritable",
    "open_session_store",
]
