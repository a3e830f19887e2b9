"""Gateway-chosen text reaches CSV extracts and reports as text, never as a spreadsheet formula;
numbers (negative ones too) are written as numbers."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from ivr.journal.csv_cells import safe_cell
from ivr.journal.extracts import extract_csv
from ivr.journal.records import JournalRecord
from ivr.journal.store import JournalStore, ReportFilter
from ivr.journal.synthetic import CallScript, build_call
from ivr.journal.table import Column, Table, render_csv
from tests.journal.known_calls import T0

HOSTILE_IDS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+44", "'+44"),
        ("-5", "'-5"),  # text that looks like a number is still text from a gateway
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("CA123", "CA123"),
        ("", ""),
        (-5, -5),  # numbers are never touched
        (-0.25, -0.25),
        (None, None),
    ],
)
def test_safe_cell(value: object, written: object) -> None:
    assert safe_cell(value) == written


def _hostile_records() -> list[JournalRecord]:
    records: list[JournalRecord] = []
    for n, call_id in enumerate(HOSTILE_IDS):
        script = CallScript(call_id, T0 + n * 60, ani_found=True, verify=["verified"])
        records += build_call(script)
    return records


async def test_extracts_write_hostile_ids_as_text(store: JournalStore) -> None:
    records = _hostile_records()
    # a negative number in a numeric column stays a number (a clock stepped back)
    records = [
        replace(r, duration_ms=-12.5) if r.kind == "step_outcome" and r.duration_ms else r
        for r in records
    ]
    await store.append(records)
    for name in ("calls", "steps"):
        text = "".join([piece async for piece in extract_csv(store, name, ReportFilter())])
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows, name
        ids = {row["call_id"] for row in rows}
        assert ids == {"'" + call_id for call_id in HOSTILE_IDS}, name
        for row in rows:
            for column, cell in row.items():
                if column != "duration_ms":
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
        if name == "steps":
            assert "-12.5" in {row["duration_ms"] for row in rows}


def test_report_csv_neutralises_text_but_not_numbers() -> None:
    table = Table(
        "t",
        (Column("line"), Column("calls", "int"), Column("delta", "float")),
        [("=cmd|' /C calc'!A0", 3, -1.5), ("cards", -2, 0.0)],
    )
    rows = list(csv.reader(io.StringIO(render_csv(table))))
    assert rows[1] == ["'=cmd|' /C calc'!A0", "3", "-1.5"]
    assert rows[2] == ["cards", "-2", "0.0"]
