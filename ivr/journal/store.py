"""The JournalStore protocol, report filters, and opening a store from its URL.

Reports and extracts are plain SQL with `:name` parameters over the `calls`, `step_daily` and
`records` tables; each store runs them in its own dialect (SQLite natively, PostgreSQL after
renumbering to `$n`). So one report definition serves both stores.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ivr.journal.metrics import SECRETS_STRIPPED
from ivr.journal.records import (
    DATA,
    Chunk,
    JournalRecord,
    RecordKind,
    chunk_rows,
    scrub_record,
    scrub_row,
)
from ivr.journal.records import Row as RecordRow
from ivr.settings import load_settings

DEFAULT_URL = "sqlite:///var/journal.db"
URL_ENV = "IVR_JOURNAL_URL"

Row = tuple[Any, ...]


class JournalError(Exception):
    """A journal store could not be opened or used (message never holds record data)."""


class StoreReplaced(JournalError):
    """The store this connection writes to is no longer the one its URL names (a SQLite file
    deleted, replaced or made read-only): what it writes would be lost; open the store again."""


class JournalStore(Protocol):
    dialect: str  # "sqlite" or "postgresql"

    async def append(self, records: Sequence[JournalRecord]) -> None:
        """Store records and fold them into the summary tables, in one transaction."""

    async def append_rows(self, rows: Sequence[RecordRow]) -> None:
        """`append` for records as rows (`records.as_row`), as the journal worker receives them."""

    async def append_batches(
        self, batches: Sequence[Sequence[RecordRow]], *, replay: bool = False
    ) -> None:
        """`append_rows` for several batches in one transaction, each chunked on its own (a batch
        sent again then gives the same chunks, which are ignored). `replay`: the batches may
        have been stored before (sent again after a failure, replayed from the spool); only the
        chunks not stored yet are then folded into the summaries, so nothing counts twice."""

    async def journey(self, call_id: str) -> list[JournalRecord]: ...

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Row]: ...

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        """One statement, committed (`:name` parameters)."""

    def stream(
        self, sql: str, params: Mapping[str, Any], chunk_size: int = 5000
    ) -> AsyncIterator[list[Row]]:
        """Rows in chunks without holding the whole result (server-side cursor on PostgreSQL)."""
        ...

    async def prune(self, before: float) -> dict[str, int]:
        """Delete what is older than `before` (unix time); counts per table."""
        ...

    async def schema_version(self) -> int: ...

    # What opening the store had to build: "schema" when it created the journal from nothing,
    # else the names of tables or views it found missing and recreated (empty: nothing).
    rebuilt: tuple[str, ...]

    async def close(self) -> None: ...


def clean_batch(records: Sequence[JournalRecord]) -> list[JournalRecord]:
    """Records as stores may keep them: secret keys stripped (and counted), numbers masked."""
    out = []
    for r in records:
        clean, dropped = scrub_record(r)
        if dropped:
            SECRETS_STRIPPED.inc(dropped)
        out.append(clean)
    return out


def clean_rows(rows: Sequence[RecordRow]) -> list[RecordRow]:
    """`clean_batch` for rows: only rows whose data may hold a secret or a number are copied."""
    out = []
    stripped = 0
    for row in rows:
        if row[DATA]:
            row, dropped = scrub_row(row)
            stripped += dropped
        out.append(row)
    if stripped:
        SECRETS_STRIPPED.inc(stripped)
    return out


def chunks_by_call(batches: Sequence[Sequence[RecordRow]]) -> list[tuple[Chunk, list[RecordRow]]]:
    """Each chunk `chunk_rows` makes of these batches, with the rows it holds (replay folds
    only the rows of chunks it stored)."""
    out: list[tuple[Chunk, list[RecordRow]]] = []
    for rows in batches:
        by_call: dict[str, list[RecordRow]] = {}
        for row in rows:
            by_call.setdefault(row[0], []).append(row)
        for same in by_call.values():
            out.append((chunk_rows([same])[0], same))
    return out


def default_url() -> str:
    """$IVR_JOURNAL_URL (through ivr.settings) or the SQLite file: for entry points."""
    return load_settings().journal_url


# The implementations by URL scheme, found when a URL names them: the port does not import
# its implementations (each module has an `open_url(url)` coroutine).
IMPLEMENTATIONS = {
    "sqlite": "ivr.journal.sqlite_store",
    "postgresql": "ivr.journal.pg_store",
    "postgres": "ivr.journal.pg_store",
}


async def open_store(url: str) -> JournalStore:
    """Open (creating and migrating as needed) the store a URL names."""
    scheme = url.partition("://")[0] if "://" in url else ""
    module = IMPLEMENTATIONS.get(scheme)
    if module is None:
        raise JournalError("journal URL must start with sqlite:/// or postgresql://")
    opener: Callable[[str], Awaitable[JournalStore]] = importlib.import_module(module).open_url
    return await opener(url)


def sqlite_path(url: str) -> str:
    """The file a `sqlite:///rel` or `sqlite:////abs` URL names, its folder created."""
    path = url.removeprefix("sqlite://")
    path = path[1:] if path.startswith("/") else path
    if not path:
        raise JournalError("sqlite journal URL needs a path: sqlite:///var/journal.db")
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True, slots=True)
class ReportFilter:
    """Inclusive UTC day range and optional service line / flow, shared by reports and extracts."""

    from_day: date | None = None
    to_day: date | None = None
    service_line: str | None = None
    flow: str | None = None

    def calls_where(self) -> tuple[str, dict[str, Any]]:
        """WHERE clause over a table with day, service_line and flow_id columns."""
        clauses, params = ["day IS NOT NULL"], {}
        if self.from_day:
            clauses.append("day >= :from_day")
            params["from_day"] = self.from_day.isoformat()
        if self.to_day:
            clauses.append("day <= :to_day")
            params["to_day"] = self.to_day.isoformat()
        return self._line_flow(clauses, params)

    def records_where(self) -> tuple[str, dict[str, Any]]:
        """WHERE clause over the `records` view: time range on `at`, and on the chunk's time
        range first (`chunk_last_at` is indexed), so that only chunks in range are unpacked."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.from_day:
            clauses += ["chunk_last_at >= :from_at", "at >= :from_at"]
            params["from_at"] = _midnight(self.from_day)
        if self.to_day:
            clauses += ["chunk_at < :to_at", "at < :to_at"]
            params["to_at"] = _midnight(self.to_day + timedelta(days=1))
        return self._line_flow(clauses or ["1 = 1"], params)

    def line_flow_where(self) -> tuple[str, dict[str, Any]]:
        """WHERE clause for the service line and flow alone (no day range)."""
        return self._line_flow(["1 = 1"], {})

    def _line_flow(self, clauses: list[str], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self.service_line:
            clauses.append("service_line = :service_line")
            params["service_line"] = self.service_line
        if self.flow:
            clauses.append("flow_id = :flow")
            params["flow"] = self.flow
        return " AND ".join(clauses), params


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def parse_day(text: str) -> date:
    """'2024-05-01', 'today', 'yesterday' or '7d' (seven days ago), as a UTC day."""
    today = datetime.now(UTC).date()
    text = text.strip().lower()
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    if re.fullmatch(r"\d+d", text):
        return today - timedelta(days=int(text[:-1]))
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD, today, yesterday or 7d)") from exc


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """'90d', '12h', '4w', '30m', '45s' -> seconds."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip().lower())
    if not match:
        raise ValueError(f"not an age: {text!r} (use e.g. 90d, 12h, 4w)")
    return int(match.group(1)) * _UNITS[match.group(2)]


RECORD_COLUMNS = (
    "call_id, seq, at, kind, flow_id, flow_version, service_line, step, outcome, attempt,"
    " duration_ms, data"
)
JOURNEY = f"SELECT {RECORD_COLUMNS} FROM records WHERE call_id = :call_id ORDER BY seq"
# Prune deletes the chunks whose records are all older than the cutoff (a chunk spans one call's
# records of one batch: seconds, so a call that straddles the cutoff keeps its newer chunks).
PRUNED_RECORDS = "SELECT COALESCE(SUM(n), 0) FROM record_chunks WHERE last_at < :before"


def journey_records(rows: Sequence[Row]) -> list[JournalRecord]:
    """A call's stored rows (JOURNEY, in seq order) as records; a record stored twice (in two
    chunks, after a batch was retried in other company) appears once."""
    records: list[JournalRecord] = []
    for row in rows:
        if records and records[-1].seq == row[1]:
            continue
        records.append(row_record(row))
    return records


def row_record(row: Row) -> JournalRecord:
    """A stored `records` row (in column order) back into a JournalRecord."""
    data = row[11]
    return JournalRecord(
        call_id=row[0],
        seq=row[1],
        at=row[2],
        kind=RecordKind(row[3]),
        flow_id=row[4],
        flow_version=row[5],
        service_line=row[6],
        step=row[7],
        outcome=row[8],
        attempt=row[9],
        duration_ms=row[10],
        data=json.loads(data) if data else {},
    )
