"""The embedded journal: one SQLite file in WAL mode, via aiosqlite.

Writes go through one connection (batched by the writer, one transaction per batch); reports and
extracts use their own read connections so that a long report never queues behind, or holds up,
the writes (WAL lets readers and the writer proceed together).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import aiosqlite

from ivr.journal import rollup
from ivr.journal.fold import CALL_COLUMNS, call_upsert_sql, call_values, day_and_hour, fold_rows
from ivr.journal.records import Chunk, JournalRecord, as_row, chunk_rows
from ivr.journal.records import Row as RecordRow
from ivr.journal.schema import SQLITE_MIGRATIONS, VERSION_DDL, pending
from ivr.journal.store import (
    JOURNEY,
    PRUNED_RECORDS,
    JournalError,
    Row,
    clean_rows,
    journey_records,
    sqlite_path,
)

BUSY_TIMEOUT_MS = 10_000


# One row per call and batch (records.chunk_rows); a chunk sent again is ignored.
CHUNK_INSERT = (
    "INSERT INTO record_chunks (call_id, seq, at, last_at, n, body) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (call_id, seq) DO NOTHING"
)
STEP_UPSERT = (
    "INSERT INTO step_daily (day, service_line, flow_id, flow_version, step, outcome, n, timed,"
    " duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (day, service_line, flow_id, flow_version, step, outcome) DO UPDATE SET"
    " n = step_daily.n + excluded.n, timed = step_daily.timed + excluded.timed,"
    " duration_ms = step_daily.duration_ms + excluded.duration_ms"
)
CALL_UPSERT = call_upsert_sql(["?"] * len(CALL_COLUMNS), "MAX")


def _write(
    db: sqlite3.Connection,
    chunks: list[Chunk],
    call_rows: list[tuple[Any, ...]],
    step_rows: list[tuple[Any, ...]],
) -> None:
    """One batch's transaction, on the connection's own thread: chunks, calls and the rollup
    (old contributions out, new ones in), step counts."""
    ids = [row[0] for row in call_rows]
    touched = f"call_id IN ({', '.join('?' * len(ids))})"
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(CHUNK_INSERT, chunks)
        db.execute(rollup.add_sql(-1, touched), ids)
        db.executemany(CALL_UPSERT, call_rows)
        db.execute(rollup.add_sql(1, touched), ids)
        if step_rows:
            db.executemany(STEP_UPSERT, step_rows)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable enough, fast
    except BaseException:
        await conn.close()
        raise
    return conn


class SqliteJournal:
    dialect = "sqlite"

    def __init__(self, path: str, conn: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = conn
        self._reader: aiosqlite.Connection | None = None

    @classmethod
    async def open(cls, path: str) -> SqliteJournal:
        try:
            conn = await _connect(path)
            store = cls(path, conn)
            await store._migrate()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        return store

    async def _migrate(self) -> None:
        await self._conn.execute("BEGIN IMMEDIATE")  # one migrator at a time across processes
        try:
            await self._conn.execute(VERSION_DDL)
            async with self._conn.execute("SELECT version FROM schema_version") as cur:
                applied = {int(row[0]) for row in await cur.fetchall()}
            for version, statements in pending(SQLITE_MIGRATIONS, applied):
                for statement in statements:
                    await self._conn.execute(statement)
                await self._conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
                )
            await self._conn.execute("COMMIT")
        except BaseException:
            await self._conn.execute("ROLLBACK")
            raise

    async def schema_version(self) -> int:
        async with self._conn.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def append(self, records: Sequence[JournalRecord]) -> None:
        await self.append_rows([as_row(r) for r in records])

    async def append_rows(self, rows: Sequence[RecordRow]) -> None:
        await self.append_batches([rows])

    async def append_batches(self, batches: Sequence[Sequence[RecordRow]]) -> None:
        clean = [clean_rows(rows) for rows in batches if rows]
        if not clean:
            return
        calls, steps = fold_rows(row for rows in clean for row in rows)
        chunks = chunk_rows(clean)
        step_rows = [(*key, c.n, c.timed, c.duration_ms) for key, c in steps.items()]
        call_rows = [call_values(c) for c in calls]
        # The whole transaction in one trip to aiosqlite's thread (its `_execute`, which all its
        # methods use): six trips, each a future and a thread hand-off, cost ~3 µs per record.
        conn = self._conn
        on_thread = cast(Callable[[Callable[[], None]], Awaitable[None]], conn._execute)
        await on_thread(lambda: _write(conn._conn, chunks, call_rows, step_rows))

    async def journey(self, call_id: str) -> list[JournalRecord]:
        rows = await self.fetch(JOURNEY, {"call_id": call_id})
        return journey_records(rows)

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        if self._reader is None:
            self._reader = await _connect(self.path)
        async with self._reader.execute(sql, dict(params)) as cur:
            return [tuple(row) for row in await cur.fetchall()]

    async def stream(
        self, sql: str, params: Mapping[str, Any], chunk_size: int = 5000
    ) -> AsyncIterator[list[Row]]:
        conn = await _connect(self.path)  # its own snapshot, released when the stream ends
        try:
            async with conn.execute(sql, dict(params)) as cur:
                while rows := await cur.fetchmany(chunk_size):
                    yield [tuple(row) for row in rows]
        finally:
            await conn.close()

    async def prune(self, before: float) -> dict[str, int]:
        cutoff_day, _ = day_and_hour(before)
        deleted: dict[str, int] = {}
        conn = self._conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute(PRUNED_RECORDS.replace(":before", "?"), (before,)) as cur:
                row = await cur.fetchone()
            deleted["records"] = int(row[0]) if row else 0
            for table, sql, arg in (
                ("record_chunks", "DELETE FROM record_chunks WHERE last_at < ?", before),
                ("calls", "DELETE FROM calls WHERE started_at < ?", before),
                ("step_daily", "DELETE FROM step_daily WHERE day < ?", cutoff_day),
                ("call_hourly", "DELETE FROM call_hourly WHERE day < ?", cutoff_day),
            ):
                cur = await conn.execute(sql, (arg,))
                if table != "record_chunks":
                    deleted[table] = cur.rowcount
                await cur.close()
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return deleted

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        await self._conn.close()


async def open_url(url: str) -> SqliteJournal:
    """The store a `sqlite:///path` URL names (ivr.journal.store.open_store finds it here)."""
    return await SqliteJournal.open(sqlite_path(url))
