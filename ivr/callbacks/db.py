"""The journal database as the callback store sees it: `:name` SQL, transactions, both dialects.

Opening runs the journal's migrations first (migration 4 creates the callback tables), then
keeps a connection of its own: one aiosqlite connection behind a lock on SQLite (writes are
serialised there anyway), an asyncpg pool on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aiosqlite
import asyncpg

from ivr.journal.pg_store import split_url, to_positional
from ivr.journal.store import JournalError, open_store

Row = tuple[Any, ...]


class Tx(Protocol):
    dialect: str

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        ...


class Database(Tx, Protocol):
    def transaction(self) -> Any: ...

    async def close(self) -> None: ...


class _SqliteTx:
    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        async with self._conn.execute(sql, dict(params or {})) as cur:
            return [tuple(row) for row in await cur.fetchall()]

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        async with self._conn.execute(sql, dict(params or {})) as cur:
            return int(cur.rowcount)


class SqliteDatabase(_SqliteTx):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__(conn)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute("PRAGMA busy_timeout = 10000")
        return cls(conn)

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        async with self._lock:
            return await super().fetch(sql, params)

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        async with self._lock:
            return await super().execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def close(self) -> None:
        await self._conn.close()


class _PgTx:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        query, args = to_positional(sql, params or {})
        return [tuple(row) for row in await self._conn.fetch(query, *args)]

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        query, args = to_positional(sql, params or {})
        status = await self._conn.execute(query, *args)
        tail = str(status).split()[-1]
        return int(tail) if tail.isdigit() else 0


class PgDatabase:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str) -> PgDatabase:
        dsn, schema = split_url(url)
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=4, server_settings={"search_path": schema}
        )
        return cls(pool)

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _PgTx(conn).fetch(sql, params)

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        async with self._pool.acquire() as conn:
            return await _PgTx(conn).execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgTx(conn)

    async def close(self) -> None:
        await self._pool.close()


def sqlite_path(url: str) -> str:
    """The file of a `sqlite:///path` URL."""
    path = url.removeprefix("sqlite://")
    return path[1:] if path.startswith("/") else path


async def open_database(url: str) -> SqliteDatabase | PgDatabase:
    """The journal database at `url`, migrated (callback tables included)."""
    journal = await open_store(url)
    await journal.close()
    if url.startswith("sqlite://"):
        return await SqliteDatabase.open(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        return await PgDatabase.open(url)
    raise JournalError("journal URL must start with sqlite:/// or postgresql://")
