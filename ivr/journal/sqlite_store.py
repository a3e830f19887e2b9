"""The embedded journal: one SQLite file in WAL mode.

Writes go through one connection (batched by the writer, one transaction per batch) that lives
on a thread of its own (`_WriteThread`: stdlib sqlite3 and a one-thread executor), so a batch's
whole transaction is one hand-off from the event loop. Reports and extracts use their own
aiosqlite read connections so that a long report never queues behind, or holds up, the writes
(WAL lets readers and the writer proceed together).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiosqlite

from ivr.journal import rollup
from ivr.journal.fold import CALL_COLUMNS, call_upsert_sql, call_values, day_and_hour, fold_rows
from ivr.journal.records import Chunk, JournalRecord, as_row, chunk_rows
from ivr.journal.records import Row as RecordRow
from ivr.journal.schema import SQLITE_MIGRATIONS, SQLITE_REPAIRS, VERSION_DDL, pending
from ivr.journal.store import (
    JOURNEY,
    PRUNED_RECORDS,
    JournalError,
    Row,
    StoreReplaced,
    chunks_by_call,
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


def _summaries(
    db: sqlite3.Connection, call_rows: list[tuple[Any, ...]], step_rows: list[tuple[Any, ...]]
) -> None:
    """Calls and the rollup (old contributions out, new ones in), step counts."""
    ids = [row[0] for row in call_rows]
    touched = f"call_id IN ({', '.join('?' * len(ids))})"
    db.execute(rollup.add_sql(-1, touched), ids)
    db.executemany(CALL_UPSERT, call_rows)
    db.execute(rollup.add_sql(1, touched), ids)
    if step_rows:
        db.executemany(STEP_UPSERT, step_rows)


def _folded(rows: Iterable[RecordRow]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    calls, steps = fold_rows(rows)
    return [call_values(c) for c in calls], [
        (*key, c.n, c.timed, c.duration_ms) for key, c in steps.items()
    ]


def _write(
    db: sqlite3.Connection,
    chunks: list[Chunk],
    call_rows: list[tuple[Any, ...]],
    step_rows: list[tuple[Any, ...]],
) -> None:
    """One batch's transaction, on the connection's own thread: chunks, then the summaries."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(CHUNK_INSERT, chunks)
        _summaries(db, call_rows, step_rows)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _write_replay(db: sqlite3.Connection, batches: list[list[RecordRow]]) -> None:
    """`_write` for batches that may be stored already: a chunk at a time, and only the rows of
    chunks this transaction inserted are folded (a replayed batch changes no counter)."""
    pairs = chunks_by_call(batches)
    db.execute("BEGIN IMMEDIATE")
    try:
        new_rows: list[RecordRow] = []
        for chunk, rows in pairs:
            if db.execute(CHUNK_INSERT, chunk).rowcount:
                new_rows.extend(rows)
        if new_rows:
            _summaries(db, *_folded(new_rows))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _open_writer(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable enough, fast
    except BaseException:
        db.close()
        raise
    return db


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


def _migrate(db: sqlite3.Connection) -> tuple[str, ...]:
    """Apply the migrations not applied yet; recreate tables found missing. What was built."""
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
        rebuilt = ("schema",) if not applied else _repair(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return rebuilt


def _repair(db: sqlite3.Connection) -> tuple[str, ...]:
    """Recreate the tables and views found missing (dropped by hand); their names."""
    missing = []
    for name, statements in SQLITE_REPAIRS:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone():
            continue
        for statement in statements:
            db.execute(statement)
        missing.append(name)
    return tuple(missing)


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


def _identity(path: str) -> tuple[int, int] | None:
    """The file a path names (device, inode); None for an in-memory database."""
    if path == ":memory:":
        return None
    st = os.stat(path)
    return st.st_dev, st.st_ino


class SqliteJournal:
    dialect = "sqlite"

    def __init__(self, path: str, writer: _WriteThread) -> None:
        self.path = path
        self._writer = writer
        self._reader: aiosqlite.Connection | None = None
        self._identity = _identity(path)
        # The database and its WAL files: checked writable before a write (see _check).
        self._files = (path, f"{path}-wal", f"{path}-shm")
        self.rebuilt: tuple[str, ...] = ()

    @classmethod
    async def open(cls, path: str) -> SqliteJournal:
        await _close_parked()
        if not all(_writable(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")):
            # Not even opened: SQLite maps the WAL index of a read-only journal and a write
            # through that mapping (recovery, a checkpoint) is a SIGBUS, not an error.
            raise StoreReplaced(f"the journal {path} is read-only")
        try:
            writer = await _WriteThread.open(path)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        try:
            store = cls(path, writer)
            store.rebuilt = await writer.run(_migrate)
        except (sqlite3.Error, OSError) as exc:
            await writer.close()
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        return store

    def _check(self) -> None:
        """Refuse to write to a file that is gone, replaced or read-only.

        A connection to a deleted file goes on "storing" into the unlinked inode, and a
        write to a WAL index that was made immutable kills the process with SIGBUS (its
        pages are mapped): both are found here by a stat and an access() per file (cheap
        per transaction), and the writer opens the store again instead.
        """
        if self._identity is None:
            return
        try:
            if _identity(self.path) != self._identity:
                raise StoreReplaced("the journal file was replaced")
        except FileNotFoundError:
            raise StoreReplaced("the journal file was deleted") from None
        if not self._writable():
            raise StoreReplaced("the journal file is read-only")

    async def schema_version(self) -> int:
        return await self._writer.run(_schema_version)

    async def append(self, records: Sequence[JournalRecord]) -> None:
        await self.append_rows([as_row(r) for r in records])

    async def append_rows(self, rows: Sequence[RecordRow]) -> None:
        await self.append_batches([rows])

    async def append_batches(
        self, batches: Sequence[Sequence[RecordRow]], *, replay: bool = False
    ) -> None:
        clean = [clean_rows(rows) for rows in batches if rows]
        if not clean:
            return
        self._check()
        # the whole transaction in one trip to the write thread, not one per statement
        if replay:
            await self._writer.run(lambda db: _write_replay(db, clean))
        else:
            call_rows, step_rows = _folded(row for rows in clean for row in rows)
            chunks = chunk_rows(clean)
            await self._writer.run(lambda db: _write(db, chunks, call_rows, step_rows))
        self._check()  # deleted while it wrote: the transaction went with the file; write again

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        """One statement in a transaction of its own (flow versions; not the records' path)."""
        self._check()
        values = dict(params)

        def run(db: sqlite3.Connection) -> None:
            db.execute(sql, values)
            db.commit()

        await self._writer.run(run)

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
        if not self._writable():
            # Closing the last connection checkpoints and writes the WAL index, a mapped file:
            # made immutable, that write is a SIGBUS. Park the connections until it is writable.
            _parked.append(self)
            return
        await _close_parked()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        await self._writer.close()

    def _writable(self) -> bool:
        return all(_writable(name) for name in self._files)


def _writable(name: str) -> bool:
    """Writable or absent (an immutable file is not writable even by root: access() says so)."""
    return name == ":memory:" or os.access(name, os.W_OK) or not os.path.exists(name)


_parked: list[SqliteJournal] = []  # closed while read-only: closed for real once writable


async def _close_parked() -> None:
    for store in list(_parked):
        if store._writable():
            _parked.remove(store)
            await store.close()


async def open_url(url: str) -> SqliteJournal:
    """The store a `sqlite:///path` URL names (ivr.journal.store.open_store finds it here)."""
    return await SqliteJournal.open(sqlite_path(url))
