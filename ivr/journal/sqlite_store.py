"""The embedded journal: one SQLite file in WAL mode.

Writes go through one connection (batched by the writer, one transaction per batch) that lives
on a thread of its own (`_WriteThread`: stdlib sqlite3 and a one-thread executor), so a batch's
whole transaction is one hand-off from the event loop. Reports and extracts use their own
aiosqlite read connections so that a long report never queues behind, or holds up, the writes
(WAL lets readers and the writer proceed together).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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
T = TypeVar("T")


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


def _open_writer(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        _configure(db.execute)
    except BaseException:
        db.close()
        raise
    return db


def _configure(execute: Callable[[str], object]) -> None:
    execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    execute("PRAGMA journal_mode = WAL")
    execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable enough, fast


class _WriteThread:
    """One sqlite3 connection used only on its own thread; `run(fn)` calls `fn(connection)`
    there, so a whole transaction is one trip from the event loop."""

    def __init__(self, executor: ThreadPoolExecutor, db: sqlite3.Connection) -> None:
        self._executor = executor
        self._db = db

    @classmethod
    async def open(cls, path: str) -> _WriteThread:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ivr-journal-sqlite")
        try:
            db = await asyncio.get_running_loop().run_in_executor(executor, _open_writer, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, db)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._db)

    async def close(self) -> None:
        try:
            await self.run(sqlite3.Connection.close)
        finally:
            self._executor.shutdown(wait=False)


def _migrate(db: sqlite3.Connection) -> None:
    db.execute("BEGIN IMMEDIATE")  # one migrator at a time across processes
    try:
        db.execute(VERSION_DDL)
        applied = {int(row[0]) for row in db.execute("SELECT version FROM schema_version")}
        for version, statements in pending(SQLITE_MIGRATIONS, applied):
            for statement in statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _schema_version(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _prune(db: sqlite3.Connection, before: float, cutoff_day: str) -> dict[str, int]:
    deleted: dict[str, int] = {}
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(PRUNED_RECORDS.replace(":before", "?"), (before,)).fetchone()
        deleted["records"] = int(row[0]) if row else 0
        for table, sql, arg in (
            ("record_chunks", "DELETE FROM record_chunks WHERE last_at < ?", before),
            ("calls", "DELETE FROM calls WHERE started_at < ?", before),
            ("step_daily", "DELETE FROM step_daily WHERE day < ?", cutoff_day),
            ("call_hourly", "DELETE FROM call_hourly WHERE day < ?", cutoff_day),
        ):
            cur = db.execute(sql, (arg,))
            if table != "record_chunks":
                deleted[table] = cur.rowcount
            cur.close()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return deleted


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

    def __init__(self, path: str, writer: _WriteThread) -> None:
        self.path = path
        self._writer = writer
        self._reader: aiosqlite.Connection | None = None

    @classmethod
    async def open(cls, path: str) -> SqliteJournal:
        try:
            writer = await _WriteThread.open(path)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        try:
            await writer.run(_migrate)
        except sqlite3.Error as exc:
            await writer.close()
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        return cls(path, writer)

    async def schema_version(self) -> int:
        return await self._writer.run(_schema_version)

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
        # the whole transaction in one trip to the write thread, not one per statement
        await self._writer.run(lambda db: _write(db, chunks, call_rows, step_rows))

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
        return await self._writer.run(lambda db: _prune(db, before, cutoff_day))

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        await self._writer.close()


async def open_url(url: str) -> SqliteJournal:
    """The store a `sqlite:///path` URL names (ivr.journal.store.open_store finds it here)."""
    return await SqliteJournal.open(sqlite_path(url))
