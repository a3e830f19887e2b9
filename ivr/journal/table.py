"""A report's result: typed columns and rows, rendered for a terminal, as CSV or as JSON.

Rows keep raw values (ratios as 0..1 floats, durations in seconds) so CSV and JSON stay
machine-readable; only the terminal rendering formats percentages and aligns columns.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from ivr.journal.csv_cells import safe_cell

Kind = Literal["text", "int", "float", "pct"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind = "text"


@dataclass(slots=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        names = [c.name for c in self.columns]
        return [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in self.rows]


def _plain(value: Any) -> Any:
    """Round floats for output; ints and text as they are."""
    if isinstance(value, float):
        return round(value, 4)
    return value


def _cell(value: Any, kind: Kind) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def render_text(table: Table) -> str:
    """Aligned columns: numbers to the right, text to the left."""
    header = [c.name for c in table.columns]
    cols = table.columns
    body = [[_cell(v, c.kind) for v, c in zip(row, cols, strict=True)] for row in table.rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        out = []
        for cell, width, col in zip(cells, widths, table.columns, strict=True):
            out.append(cell.ljust(width) if col.kind == "text" else cell.rjust(width))
        return "  ".join(out).rstrip()

    parts = [table.title, line(header), "  ".join("-" * w for w in widths)]
    parts += [line(r) for r in body] or ["(no calls)"]
    return "\n".join(parts) + "\n"


def render_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180: cells with CR or LF are quoted
    writer.writerow([c.name for c in table.columns])
    writer.writerows(
        [["" if v is None else safe_cell(_plain(v)) for v in row] for row in table.rows]
    )
    return buf.getvalue()


def render_json(table: Table) -> str:
    return json.dumps(
        {
            "report": table.title,
            "columns": [{"name": c.name, "kind": c.kind} for c in table.columns],
            "rows": table.records(),
        },
        indent=2,
    )


def render(table: Table, fmt: str) -> str:
    if fmt == "csv":
        return render_csv(table)
    if fmt == "json":
        return render_json(table) + "\n"
    return render_text(table)
