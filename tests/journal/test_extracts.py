"""CSV extracts stream in chunks and hold the right rows."""

from __future__ import annotations

import csv
import io
from datetime import date

from ivr.journal.extracts import extract_csv
from ivr.journal.store import JournalStore, ReportFilter
from tests.journal.known_calls import known_records


async def test_calls_extract(store: JournalStore) -> None:
    await store.append(known_records())
    pieces = [p async for p in extract_csv(store, "calls", ReportFilter(), chunk_size=2)]
    assert len(pieces) == 1 + 3  # header, then 6 calls in chunks of 2
    rows = list(csv.DictReader(io.StringIO("".join(pieces))))
    assert [r["call_id"] for r in rows] == ["A", "B", "C", "D", "E", "F"]
    assert rows[0]["started_at"] == "2024-06-01T09:00:00.000Z"
    assert rows[0]["idv_status"] == "identified_and_verified"
    assert rows[2]["customer_id"] == ""


async def test_steps_extract_filtered(store: JournalStore) -> None:
    await store.append(known_records())
    text = "".join([p async for p in extract_csv(store, "steps", ReportFilter())])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 6 + 4 + 3 + 5  # welcome, by_ani, account_number, date_of_birth outcomes
    day2 = ReportFilter(from_day=date(2024, 6, 2), to_day=date(2024, 6, 2))
    text2 = "".join([p async for p in extract_csv(store, "steps", day2)])
    assert {r["call_id"] for r in csv.DictReader(io.StringIO(text2))} == {"F"}
