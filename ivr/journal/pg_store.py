"""The PostgreSQL journal, via an asyncpg pool.

A batch is written with one `INSERT ... SELECT FROM jsonb_array_elements($1)` per table, in one
transaction: a single round trip and one JSON parameter per table whatever the batch size.
Extracts read through a server-side cursor. `?schema=NAME` in the URL puts the tables in their
own schema (created on open), which is how tests and several deployments share one database.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson

from ivr.journal import rollup
from ivr.journal.fold import (
    CALL_COLUMNS,
    CallRow,
    StepCount,
    StepKey,
    call_upsert_sql,
    call_values,
    day_and_hour,
    fold_rows,
)
from ivr.journal.records import Chunk, JournalRecord, as_row, chunk_rows, json_text
from ivr.journal.records import Row as RecordRow
from ivr.journal.schema import (
    POSTGRES_MIGRATIONS,
    POSTGRES_REPAIRS,
    VERSION_DDL,
    call_column_type,
    pending,
)
from ivr.journal.store import (
    JOURNEY,
    PRUNED_RECORDS,
    JournalError,
    Row,
    chunks_by_call,
    clean_rows,
    journey_records,
)

_PG_TYPE = {"text": "text", "real": "float8", "int": "int"}


def _from_json(types: Sequence[str]) -> str:
    """A SELECT list over `jsonb_array_elements($1)`: element i of each array as types[i].

    The batch travels as one JSON text: asyncpg encodes array parameters element by element
    with abstract-class checks, json's C encoder does the whole batch in one call
    (`python -m bench.journal_throughput` prints records stored per second). Numbers keep
    their exact value (jsonb holds them as numeric, the cast to float8 rounds correctly), and
    a record's data goes in as jsonb, never re-encoded.
    """
    cols = []
    for i, kind in enumerate(types):
        if kind == "jsonb":  # no data ({}) is kept as NULL, as it always was
            cols.append(f"NULLIF(NULLIF(e->{i}, 'null'::jsonb), '{{}}'::jsonb)")
        elif kind == "text":
            cols.append(f"e->>{i}")
        else:
            cols.append(f"(e->>{i})::{kind}")
    return f"SELECT {', '.join(cols)} FROM jsonb_array_elements($1::jsonb) AS e"


# One row per call and batch (records.chunk_rows), the body inserted as parsed once with the rest.
CHUNK_INSERT = (
    "INSERT INTO record_chunks (call_id, seq, at, last_at, n, body)"
    " SELECT e->>0, (e->>1)::int, (e->>2)::float8, (e->>3)::float8, (e->>4)::int, e->5"
    " FROM jsonb_array_elements($1::jsonb) AS e ON CONFLICT (call_id, seq) DO NOTHING"
)


def chunks_json(chunks: Sequence[Chunk]) -> str:
    """Chunks as one JSON array, each body embedded as JSON (not as a string to parse again)."""
    return orjson.dumps([(*c[:5], orjson.Fragment(c[5])) for c in chunks]).decode()


STEP_UPSERT = (
    "INSERT INTO step_daily (day, service_line, flow_id, flow_version, step, outcome, n, timed,"
    f" duration_ms) {_from_json(['text'] * 6 + ['int', 'int', 'float8'])}"
    " ON CONFLICT (day, service_line, flow_id, flow_version, step, outcome) DO UPDATE SET"
    " n = step_daily.n + excluded.n, timed = step_daily.timed + excluded.timed,"
    " duration_ms = step_daily.duration_ms + excluded.duration_ms"
)
CALL_UPSERT = call_upsert_sql(["x"] * len(CALL_COLUMNS), "GREATEST").replace(
    f"VALUES ({', '.join(['x'] * len(CALL_COLUMNS))})",
    _from_json([_PG_TYPE[call_column_type(col)] for col in CALL_COLUMNS]),
)
# A join to the touched ids, not `= ANY($1)`: a prepared statement's generic plan for ANY
# turned into a scan of the whole calls table as it grew (writes slowed from 11k to 5k rows/s).
_TOUCHED = "unnest($1::text[]) AS touched(touched_id) JOIN calls ON calls.call_id = touched_id"
ROLLUP_SUBTRACT = rollup.add_sql(-1, "1 = 1", _TOUCHED)
ROLLUP_ADD = rollup.add_sql(1, "1 = 1", _TOUCHED)
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def to_positional(sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Rewrite `:name` parameters as `$n` (asyncpg's style), keeping one slot per name."""
    order: list[str] = []

    def slot(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _NAMED.sub(slot, sql), [params[name] for name in order]


def split_url(url: str) -> tuple[str, str]:
    """The DSN asyncpg gets and the schema named by `?schema=` (default `public`)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), "public")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
        raise JournalError("journal schema name must be a plain identifier")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def _number(value: Any) -> Any:
    """SUM() of integers is NUMERIC in PostgreSQL: give reports plain ints and floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class PostgresJournal:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self.schema = schema
        self.rebuilt: tuple[str, ...] = ()

    @classmethod
    async def open(cls, url: str, max_size: int = 4) -> PostgresJournal:
        dsn, schema = split_url(url)
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=max_size, server_settings={"search_path": schema}
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise JournalError(f"cannot connect to the PostgreSQL journal: {exc}") from exc
        store = cls(pool, schema)
        try:
            store.rebuilt = await store._migrate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def _migrate(self) -> tuple[str, ...]:
        """Apply the migrations not applied yet; recreate tables found missing. What was built."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialise workers starting together; keyed by schema so schemas don't wait.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "ivr:" + self.schema)
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.execute(VERSION_DDL)
            rows = await conn.fetch("SELECT version FROM schema_version")
            applied = {int(row[0]) for row in rows}
            for version, statements in pending(POSTGRES_MIGRATIONS, applied):
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, now()::text)",
                    version,
                )
            if not applied:
                return ("schema",)
            missing = []
            for name, statements in POSTGRES_REPAIRS:
                if await conn.fetchval("SELECT to_regclass($1)", f'"{self.schema}".{name}'):
                    continue
                for statement in statements:
                    await conn.execute(statement)
                missing.append(name)
            return tuple(missing)

    async def schema_version(self) -> int:
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval("SELECT MAX(version) FROM schema_version") or 0)

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
        if replay:
            await self._append_replay(clean)
            return
        calls, steps = fold_rows(row for rows in clean for row in rows)
        chunks = chunks_json(chunk_rows(clean))
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(CHUNK_INSERT, chunks)
            await self._summaries(conn, calls, steps)

    async def _append_replay(self, batches: list[list[RecordRow]]) -> None:
        """Batches that may be stored already: the chunks the insert returns are the ones it
        stored, and only their rows are folded (a replayed batch changes no counter)."""
        pairs = chunks_by_call(batches)
        rows_of = {(chunk[0], chunk[1]): rows for chunk, rows in pairs}
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await conn.fetch(
                CHUNK_INSERT + " RETURNING call_id, seq", chunks_json([c for c, _ in pairs])
            )
            new_rows = [row for key in stored for row in rows_of[(key[0], key[1])]]
            if new_rows:
                await self._summaries(conn, *fold_rows(new_rows))

    @staticmethod
    async def _summaries(
        conn: asyncpg.Connection, calls: list[CallRow], steps: dict[StepKey, StepCount]
    ) -> None:
        step_rows = [(*key, c.n, c.timed, c.duration_ms) for key, c in steps.items()]
        ids = [c.call_id for c in calls]
        await conn.execute(ROLLUP_SUBTRACT, ids)
        await conn.execute(CALL_UPSERT, json_text([call_values(c) for c in calls]))
        await conn.execute(ROLLUP_ADD, ids)
        if step_rows:
            await conn.execute(STEP_UPSERT, json_text(step_rows))

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        """One statement in a transaction of its own (flow versions; not the records' path)."""
        query, args = to_positional(sql, params)
        async with self._pool.acquire() as conn:
            await conn.execute(query, *args)

    async def journey(self, call_id: str) -> list[JournalRecord]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(JOURNEY.replace(":call_id", "$1"), call_id)
        return journey_records([tuple(row) for row in rows])

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        query, args = to_positional(sql, params)
        async with self._pool.acquire() as conn:
            return [tuple(map(_number, row)) for row in await conn.fetch(query, *args)]

    async def stream(
        self, sql: str, params: Mapping[str, Any], chunk_size: int = 5000
    ) -> AsyncIterator[list[Row]]:
        query, args = to_positional(sql, params)
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = await conn.cursor(query, *args)
            while rows := await cursor.fetch(chunk_size):
                yield [tuple(row) for row in rows]

    async def prune(self, before: float) -> dict[str, int]:
        cutoff_day, _ = day_and_hour(before)
        deleted: dict[str, int] = {}
        async with self._pool.acquire() as conn, conn.transaction():
            pruned = await conn.fetchval(PRUNED_RECORDS.replace(":before", "$1"), before)
            deleted["records"] = int(pruned)
            for table, sql, arg in (
                ("record_chunks", "DELETE FROM record_chunks WHERE last_at < $1", before),
                ("calls", "DELETE FROM calls WHERE started_at < $1", before),
                ("step_daily", "DELETE FROM step_daily WHERE day < $1", cutoff_day),
                ("call_hourly", "DELETE FROM call_hourly WHERE day < $1", cutoff_day),
            ):
                status = await conn.execute(sql, arg)
                if table != "record_chunks":
                    deleted[table] = int(status.split()[-1])
        return deleted

    async def close(self) -> None:
        await self._pool.close()


async def open_url(url: str) -> PostgresJournal:
    """The store a `postgresql://` URL names (ivr.journal.store.open_store finds it here)."""
    return await PostgresJournal.open(url)
