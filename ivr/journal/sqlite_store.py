"""The embedded journal: one SQLite file in WAL mode, via aiosqlite.

Writes go through one connection (batched by the writer, one transaction per batch); reports and
extracts use their own read connections so that a long report never queues behind, or holds up,
the writes (WAL lets readers and the writer proceed together).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiosqlite

from ivr.journal import rollup
from ivr.journal.fold import CALL_COLUMNS, call_upsert_sql, call_values, day_and_hour, fold_rows
from ivr.journal.records import JournalRecord, as_row, data_json
from ivr.journal.records import Row as RecordRow
from ivr.journal.schema import SQLITE_MIGRATIONS, VERSION_DDL
from ivr.journal.store import JournalError, Row, clean_rows, row_record

BUSY_TIMEOUT_MS = 10_000


def _record_insert(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO records (call_id, seq, at, kind, flow_id, flow_version, service_line, step,"
        f" outcome, attempt, duration_ms, data) VALUES {values}"
        " ON CONFLICT (call_id, seq) DO NOTHING"
    )


RECORD_INSERT = _record_insert(1)
# Records go in by statements of CHUNK rows (the remainder one by one): binding a flat list to
# one multi-row statement costs SQLite and the driver ~2 µs per record less than executemany
# (one statement step per row). The statement text is fixed, so sqlite3 prepares it once.
CHUNK = 250  # x 12 parameters, well under SQLite's 32,766
RECORD_INSERT_CHUNK = _record_insert(CHUNK)
STEP_UPSERT = (
    "INSERT INTO step_daily (day, service_line, flow_id, flow_version, step, outcome, n, timed,"
    " duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (day, service_line, flow_id, flow_version, step, outcome) DO UPDATE SET"
    " n = step_daily.n + excluded.n, timed = step_daily.timed + excluded.timed,"
    " duration_ms = step_daily.duration_ms + excluded.duration_ms"
)
CALL_UPSERT = call_upsert_sql(["?"] * len(CALL_COLUMNS), "MAX")


def record_row(r: JournalRecord) -> tuple[Any, ...]:
    return insert_rows([as_row(r)])[0]


def insert_params(rows: Sequence[RecordRow]) -> list[Any]:
    """`insert_rows` flattened, as multi-row statements take their parameters."""
    flat: list[Any] = []
    extend = flat.extend
    for c, seq, at, kind, f, v, line, step, out, att, dur, data in rows:
        extend((c, seq, at, str(kind), f, v, line, step, out, att, dur, data_json(data)))
    return flat


def insert_rows(rows: Sequence[RecordRow]) -> list[tuple[Any, ...]]:
    """Rows as the `records` table takes them: kind as plain text, data as JSON (None if empty)."""
    return [
        (c, seq, at, str(kind), f, v, line, step, out, att, dur, data_json(data) if data else None)
        for (c, seq, at, kind, f, v, line, step, out, att, dur, data) in rows
    ]


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
            async with self._conn.execute("SELECT MAX(version) FROM schema_version") as cur:
                row = await cur.fetchone()
            current = (row[0] if row else None) or 0
            for version, statements in SQLITE_MIGRATIONS:
                if version <= current:
                    continue
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
        if not rows:
            return
        batch = clean_rows(rows)
        calls, steps = fold_rows(batch)
        step_rows = [(*key, c.n, c.timed, c.duration_ms) for key, c in steps.items()]
        ids = [c.call_id for c in calls]
        touched = f"call_id IN ({', '.join('?' * len(ids))})"
        conn = self._conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await self._insert_records(batch)
            await conn.execute(rollup.add_sql(-1, touched), ids)
            await conn.executemany(CALL_UPSERT, [call_values(c) for c in calls])
            await conn.execute(rollup.add_sql(1, touched), ids)
            if step_rows:
                await conn.executemany(STEP_UPSERT, step_rows)
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise

    async def _insert_records(self, rows: Sequence[RecordRow]) -> None:
        full = len(rows) - len(rows) % CHUNK
        params = insert_params(rows)
        width = CHUNK * 12
        for start in range(0, full * 12, width):
            await self._conn.execute(RECORD_INSERT_CHUNK, params[start : start + width])
        if full < len(rows):
            await self._conn.executemany(RECORD_INSERT, insert_rows(rows[full:]))

    async def journey(self, call_id: str) -> list[JournalRecord]:
        rows = await self.fetch(
            "SELECT * FROM records WHERE call_id = :call_id ORDER BY seq", {"call_id": call_id}
        )
        return [row_record(row) for row in rows]

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
            for table, sql, arg in (
                ("records", "DELETE FROM records WHERE at < ?", before),
                ("calls", "DELETE FROM calls WHERE started_at < ?", before),
                ("step_daily", "DELETE FROM step_daily WHERE day < ?", cutoff_day),
                ("call_hourly", "DELETE FROM call_hourly WHERE day < ?", cutoff_day),
            ):
                cur = await conn.execute(sql, (arg,))
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
