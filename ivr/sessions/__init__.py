"""Per-call state stores: in memory (one process) or Redis (shared by every worker)."""

from __future__ import annotations

from ivr.sessions.base import (
    DEFAULT_TTL_S,
    ENDED_TTL_S,
    Lease,
    LockTimeout,
    SessionError,
    SessionStore,
)
from ivr.sessions.memory import MemorySessionStore


async def open_session_store(redis_url: str | None, prefix: str = "ivr:") -> SessionStore:
    """Redis when a URL is given, else the in-memory store."""
    if not redis_url:
        return MemorySessionStore()
    from ivr.sessions.redis_store import RedisSessionStore

    return await RedisSessionStore.open(redis_url, prefix)


__all__ = [
    "DEFAULT_TTL_S",
    "ENDED_TTL_S",
    "Lease",
    "LockTimeout",
    "MemorySessionStore",
    "SessionError",
    "SessionStore",
    "open_session_store",
]
