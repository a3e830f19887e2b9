"""Time every journal report over N generated calls (default 1,000,000) on SQLite and PostgreSQL.

Calls are realistic: a few thousand random journeys are built record by record
(`ivr.journal.synthetic`) and folded exactly as the writer folds them; the resulting call rows
and per-step counts are replicated with fresh call ids and start times over a year (busier in
office hours) and bulk-loaded into `calls` and `step_daily`; `call_hourly` is then filled by the
SQL of schema migration 2. The raw records are only stored with `--records` (reports never
read them; one `record_chunks` row of ~17 records per call). The dashboard's queries (headline
figures, trend, losses, recent calls and search, faults, flow-view counts) are timed after the
reports, each against its 0.3 s target.

    .venv/bin/python -m bench.journal_reports --calls 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from ivr.journal import dashboard_data as dash
from ivr.journal import rollup
from ivr.journal.fold import CALL_COLUMNS, CallRow, call_values, day_and_hour, fold
from ivr.journal.pg_store import split_url
from ivr.journal.records import JournalRecord, as_row, chunk_rows
from ivr.journal.reports import REPORTS, run_report
from ivr.journal.store import JournalStore, ReportFilter, open_store
from ivr.journal.synthetic import build_call, random_script

YEAR = 365 * 86400.0
END = 1_735_689_600.0  # 2025-01-01 00:00 UTC
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 18, 16, 14, 15, 16, 15, 13, 10, 7, 5, 4, 3, 2, 1]
TEMPLATES = 4000
Template = tuple[CallRow, list[tuple[float, tuple[str, str, str, str, str], int, int, float]]]
StepKey = tuple[str, str, str, str, str, str]


def templates(rng: random.Random) -> list[tuple[Template, list[JournalRecord]]]:
    """Random journeys folded once: the call row, and step counts with their offsets in time."""
    out = []
    for i in range(TEMPLATES):
        records = build_call(random_script(rng, f"t{i}", 0.0))
        (row,), steps = fold(records)
        step_list = []
        for key, count in steps.items():
            step_list.append((0.0, key[1:], count.n, count.timed, count.duration_ms))
        out.append(((row, step_list), records))
    return out


def generate(
    n: int, seed: int = 7, with_records: bool = False
) -> tuple[list[tuple[Any, ...]], dict[StepKey, list[float]], list[tuple[Any, ...]]]:
    """Call rows, step_daily rows keyed by day, and (optionally) record chunks, one per call."""
    rng = random.Random(seed)
    temps = templates(rng)
    hours = rng.choices(range(24), HOUR_WEIGHTS, k=n)
    rows: list[tuple[Any, ...]] = []
    steps: dict[StepKey, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    raw: list[tuple[Any, ...]] = []
    shift_fields = ("started_at", "ended_at", "idv_at", "last_at")
    for i in range(n):
        (tpl, step_list), records = temps[rng.randrange(TEMPLATES)]
        day_start = END - YEAR + rng.randrange(365) * 86400.0
        start = day_start + hours[i] * 3600 + rng.random() * 3600
        row = CallRow(f"call-{i:08d}")
        for col in CALL_COLUMNS[1:]:
            setattr(row, col, getattr(tpl, col))
        for col in shift_fields:
            value = getattr(tpl, col)
            setattr(row, col, None if value is None else value + start)
        row.day, row.hour = day_and_hour(start)
        if row.ani is not None:  # numbers and customers vary, as the dashboard's search meets them
            row.ani = f"*********{rng.randrange(10000):04d}"
        if row.customer_id is not None:
            row.customer_id = f"C{rng.randrange(300_000):06d}"
        rows.append(call_values(row))
        for _, key, count, timed, dur in step_list:
            acc = steps[(row.day, *key)]
            acc[0] += count
            acc[1] += timed
            acc[2] += dur
        if with_records:
            shifted = [(row.call_id, r.seq, r.at + start, *as_row(r)[3:]) for r in records]
            raw.extend(chunk_rows([shifted]))
    return rows, steps, raw


def load_sqlite(
    path: Path,
    rows: list[tuple[Any, ...]],
    steps: dict[StepKey, list[float]],
    raw: list[tuple[Any, ...]],
) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    marks = ", ".join("?" * len(CALL_COLUMNS))
    conn.executemany(f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({marks})", rows)
    conn.executemany(
        "INSERT INTO step_daily VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*k, int(v[0]), int(v[1]), v[2]) for k, v in steps.items()],
    )
    if raw:
        conn.executemany("INSERT INTO record_chunks VALUES (?, ?, ?, ?, ?, ?)", raw)
    conn.execute(rollup.BACKFILL)  # what the writer maintains call by call
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def load_postgres(
    url: str,
    rows: list[tuple[Any, ...]],
    steps: dict[StepKey, list[float]],
    raw: list[tuple[Any, ...]],
) -> None:
    dsn, schema = split_url(url)
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        await conn.copy_records_to_table(
            "calls", records=rows, columns=list(CALL_COLUMNS), schema_name=schema
        )
        await conn.copy_records_to_table(
            "step_daily",
            records=[(*k, int(v[0]), int(v[1]), v[2]) for k, v in steps.items()],
            schema_name=schema,
        )
        if raw:
            await conn.copy_records_to_table("record_chunks", records=raw, schema_name=schema)
        await conn.execute(rollup.BACKFILL)  # what the writer maintains call by call
        await conn.execute("VACUUM ANALYZE calls")
        await conn.execute("VACUUM ANALYZE call_hourly")
        await conn.execute("VACUUM ANALYZE step_daily")
    finally:
        await conn.close()


async def time_reports(url: str) -> list[tuple[str, str, float, int]]:
    store = await open_store(url)
    filters = {
        "whole year": ReportFilter(),
        "last 30 days": ReportFilter(from_day=date(2024, 12, 2), to_day=date(2024, 12, 31)),
        "one line, year": ReportFilter(service_line="cards"),
    }
    results = []
    try:
        for label, flt in filters.items():
            for name in REPORTS:
                t0 = time.perf_counter()
                table = await run_report(store, name, flt)
                results.append((name, label, time.perf_counter() - t0, len(table.rows)))
        t0 = time.perf_counter()
        from ivr.journal.extracts import extract_csv

        size = 0
        async for piece in extract_csv(store, "calls", ReportFilter()):
            size += len(piece)
        results.append(("extract calls (CSV)", f"{size / 1e6:.0f} MB", time.perf_counter() - t0, 0))
        results += await time_dashboard(store)
    finally:
        await store.close()
    return results


DASHBOARD_TARGET_S = 0.3


async def time_dashboard(store: JournalStore) -> list[tuple[str, str, float, int]]:
    """Every query the manager's dashboard and flow view make, over the same filters."""
    year = ReportFilter(from_day=date(2024, 1, 1), to_day=date(2024, 12, 31))
    month = ReportFilter(from_day=date(2024, 12, 2), to_day=date(2024, 12, 31))
    day = ReportFilter(from_day=date(2024, 12, 31), to_day=date(2024, 12, 31))
    line = ReportFilter(date(2024, 1, 1), date(2024, 12, 31), service_line="cards")
    (some,) = await store.fetch(
        "SELECT call_id, customer_id FROM calls WHERE customer_id IS NOT NULL LIMIT 1", {}
    )
    queries: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
        ("headline", "year + previous", lambda: dash.headline(store, year)),
        ("headline", "one line, year", lambda: dash.headline(store, line)),
        ("headline", "one day", lambda: dash.headline(store, day)),
        ("trend per day", "year", lambda: dash.trend(store, year)),
        ("losses per step", "year", lambda: dash.losses(store, year)),
        ("recent calls", "year, page 1", lambda: dash.recent_calls(store, year)),
        ("recent calls", "month, page 40", lambda: dash.recent_calls(store, month, page=40)),
        ("recent calls", "one line, year", lambda: dash.recent_calls(store, line)),
        ("search call id", "year", lambda: dash.recent_calls(store, year, search=some[0])),
        ("search customer", "year", lambda: dash.recent_calls(store, year, search=some[1])),
        ("search last digits", "year", lambda: dash.recent_calls(store, year, search="0123")),
        ("ended at a step", "year", lambda: dash.recent_calls(store, year, step="date_of_birth")),
        ("outcome filter", "month", lambda: dash.recent_calls(store, month, outcome="hung_up")),
        ("faults by cause", "last hour", lambda: dash.faults(store, ReportFilter())),
        ("flow view counts", "year", lambda: dash.flow_counts(store, replace(year, flow="idv"))),
    ]
    results = []
    for name, label, query in queries:
        t0 = time.perf_counter()
        answer = await query()
        secs = time.perf_counter() - t0
        size = len(answer["calls"]) if isinstance(answer, dict) and "calls" in answer else 0
        verdict = "met" if secs <= DASHBOARD_TARGET_S else "MISSED"
        results.append((f"dash: {name}", f"{label} [{verdict}]", secs, size))
    return results


async def bench(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    rows, steps, raw = generate(args.calls, with_records=args.records)
    print(
        f"generated {len(rows):,} calls, {len(steps):,} step_daily rows, {len(raw):,} records"
        f" in {time.perf_counter() - t0:.1f} s"
    )
    targets: list[tuple[str, str]] = []
    if not args.skip_sqlite:
        targets.append(("sqlite", f"sqlite:///{args.sqlite}"))
    if not args.skip_pg:
        targets.append(("postgresql", args.pg))
    for label, url in targets:
        store = await open_store(url)  # creates the schema (migrations)
        await store.close()
        t0 = time.perf_counter()
        if label == "sqlite":
            load_sqlite(Path(args.sqlite), rows, steps, raw)
        else:
            await load_postgres(url, rows, steps, raw)
        print(f"\n{label}: loaded in {time.perf_counter() - t0:.1f} s")
        print(f"{'report':22} {'range':16} {'seconds':>8} {'rows':>6}")
        for name, rng_label, secs, nrows in await time_reports(url):
            print(f"{name:22} {rng_label:16} {secs:8.3f} {nrows:6}")
        if label == "postgresql" and not args.keep:
            dsn, schema = split_url(url)
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--sqlite", default=f"var/bench-journal-{os.getpid()}.db")
    parser.add_argument(
        "--pg",
        default=f"postgresql://postgres@127.0.0.1:5432/test?schema=ivr_bench_{os.getpid()}",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--records", action="store_true", help="also load the raw records")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    Path(args.sqlite).parent.mkdir(parents=True, exist_ok=True)
    remove_sqlite(args.sqlite)
    try:
        asyncio.run(bench(args))
    finally:
        if not args.keep:
            remove_sqlite(args.sqlite)


def remove_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
