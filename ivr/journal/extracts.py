"""CSV data extracts, streamed: a year of calls is written chunk by chunk, never held whole.

`calls`: one row per call (from the `calls` summary table). `steps`: one row per step outcome
(from the raw `records`). Times are ISO 8601 UTC. Text that a spreadsheet would run as a
formula is written as text (`ivr.journal.csv_cells`).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from typing import Any

from ivr.journal.csv_cells import safe_cell
from ivr.journal.fold import CALL_COLUMNS
from ivr.journal.store import JournalStore, ReportFilter

CALL_TIME_COLUMNS = frozenset({"started_at", "ended_at", "idv_at", "last_at"})
STEP_COLUMNS = (
    "call_id",
    "seq",
    "at",
    "service_line",
    "flow_id",
    "flow_version",
    "step",
    "outcome",
    "attempt",
    "duration_ms",
)
EXTRACTS = ("calls", "steps")


def iso(at: float | None) -> str:
    if at is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


def extract_query(name: str, flt: ReportFilter) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """SQL, parameters and header of an extract."""
    if name == "calls":
        where, params = flt.calls_where()
        sql = f"SELECT {', '.join(CALL_COLUMNS)} FROM calls WHERE {where} ORDER BY started_at"
        return sql, params, CALL_COLUMNS
    if name == "steps":
        where, params = flt.records_where()
        sql = (
            f"SELECT {', '.join(STEP_COLUMNS)} FROM records"
            f" WHERE kind = 'step_outcome' AND {where} ORDER BY at"
        )
        return sql, params, STEP_COLUMNS
    raise KeyError(f"no extract named {name!r}; choose from {', '.join(EXTRACTS)}")


async def extract_csv(
    store: JournalStore, name: str, flt: ReportFilter, chunk_size: int = 5000
) -> AsyncIterator[str]:
    """CSV text: the header, then one piece per chunk of rows."""
    sql, params, header = extract_query(name, flt)
    times = {i for i, col in enumerate(header) if col in CALL_TIME_COLUMNS or col == "at"}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180: cells with CR or LF are quoted
    writer.writerow(header)
    yield buf.getvalue()
    async for rows in store.stream(sql, params, chunk_size):
        buf.seek(0)
        buf.truncate()
        for row in rows:
            writer.writerow(
                [
                    iso(v) if i in times else ("" if v is None else safe_cell(v))
                    for i, v in enumerate(row)
                ]
            )
        yield buf.getvalue()
