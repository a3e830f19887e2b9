"""Faults done to real journal stores, as an operator or a broken disk would: used by the fault
tests (tests/journal/test_faults.py) and `bench.faults`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from ivr.journal.pg_store import split_url
from ivr.journal.store import open_store


def sqlite_files(url: str) -> list[Path]:
    """The database file of a sqlite:/// URL and its WAL files."""
    path = url.removeprefix("sqlite://")
    path = path[1:] if path.startswith("/") else path
    return [Path(path + suffix) for suffix in ("", "-wal", "-shm")]


def delete_sqlite(url: str) -> None:
    """Delete the journal file (and its WAL files) under a server that has it open."""
    for path in sqlite_files(url):
        path.unlink(missing_ok=True)


def set_read_only(url: str, read_only: bool) -> None:
    """Make the journal's files read-only, or writable again. Root ignores file modes, so as root
    the files are made immutable (chattr +i), which refuses root's writes too."""
    for path in sqlite_files(url):
        if not path.exists():
            continue
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i" if read_only else "-i", str(path)], check=True)
        else:
            path.chmod(0o444 if read_only else 0o644)


async def admin_connection(url: str) -> tuple[asyncpg.Connection, str]:
    dsn, schema = split_url(url)
    return await asyncpg.connect(dsn.split("?")[0]), schema


async def drop_pg_table(url: str, table: str = "record_chunks") -> None:
    """DROP TABLE ... CASCADE in the journal's schema (the `records` view goes with the chunks)."""
    conn, schema = await admin_connection(url)
    try:
        await conn.execute(f'DROP TABLE "{schema}".{table} CASCADE')
    finally:
        await conn.close()


async def kill_pg_connections(url: str) -> int:
    """pg_terminate_backend() every connection of the journal URL (by its application_name, which
    the URL sets): as a server restart or a network cut ends them. How many were ended."""
    application = dict(
        part.split("=", 1) for part in url.split("?", 1)[1].split("&") if "=" in part
    ).get("application_name")
    assert application, "the journal URL must name an application_name to find its backends"
    conn, _ = await admin_connection(url)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = $1 AND pid <> pg_backend_pid()",
            application,
        )
    finally:
        await conn.close()
    return len(rows)


# -- scenarios: `python -m bench.journal_faults` ------------------------------------------------
#
# Each scenario drives a ProcessJournalWriter (what `ivr serve` journals through) with whole
# calls at a steady rate, strikes its fault mid-stream (calls in progress across it), recovers,
# closes the writer and counts what the store holds. Records acknowledged = accepted by
# write() and not reported dropped; the target is 0 acknowledged records lost.


@dataclass
class Figures:
    started: int = 0  # calls whose first records were written
    acknowledged: int = 0
    slowest_write_s: float = 0.0  # the engine's side: what a webhook pays for the journal
    stored: int = 0
    calls_whole: int = 0  # calls whose every record is stored
    lost_with_the_store: int = 0  # stored before the fault, destroyed by it (not acknowledged loss)


async def _drive(url: str, spool: Path, strike: Action, heal: Action) -> Figures:
    from ivr.journal.process_writer import ProcessJournalWriter
    from ivr.journal.synthetic import CallScript, build_call

    figures = Figures()
    writer = ProcessJournalWriter(url, batch_size=200, interval=0.05, spool_dir=str(spool))
    await writer.wait_ready()
    calls = [
        build_call(CallScript(f"b{i}", time.time() + i, ani_found=True, verify=["verified"]))
        for i in range(3000)
    ]

    async def write(records: list[Any]) -> None:
        began = time.perf_counter()
        writer.write(records)
        figures.slowest_write_s = max(figures.slowest_write_s, time.perf_counter() - began)
        figures.acknowledged += len(records)
        await asyncio.sleep(0.0005)

    for index, records in enumerate(calls):
        if index == 1000:
            while writer.queued:  # noqa: ASYNC110 - stored before the fault (it may destroy it)
                await asyncio.sleep(0.01)
            figures.lost_with_the_store = writer.written
            await strike()
        if index == 2000:
            await heal()
        half = len(records) // 2
        figures.started += 1
        await write(records[:half])
        await write(records[half:])
    await writer.close()
    figures.acknowledged -= writer.dropped
    store = await open_store(url)
    try:
        figures.stored = int((await store.fetch("SELECT COUNT(*) FROM records", {}))[0][0])
        ended = await store.fetch("SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL", {})
        figures.calls_whole = int(ended[0][0])
    finally:
        await store.close()
    return figures


async def _nothing() -> None:
    """No healing needed: the journal heals itself."""


Action = Callable[[], Awaitable[None]]


def _scenarios(tmp: Path, pg_dsn: str) -> dict[str, tuple[str, Action, Action]]:
    sqlite = f"sqlite:///{tmp}/journal-deleted.db"
    sqlite_ro = f"sqlite:///{tmp}/journal-read-only.db"
    pg = f"{pg_dsn}?schema=bench_faults_{uuid.uuid4().hex[:8]}&application_name=bench-faults"

    async def delete() -> None:
        delete_sqlite(sqlite)

    async def read_only() -> None:
        set_read_only(sqlite_ro, True)

    async def writable() -> None:
        set_read_only(sqlite_ro, False)

    async def drop() -> None:
        await drop_pg_table(pg)

    async def kill() -> None:
        await kill_pg_connections(pg)

    return {
        "sqlite-deleted": (sqlite, delete, _nothing),
        "sqlite-read-only": (sqlite_ro, read_only, writable),
        "postgresql-table-dropped": (pg, drop, _nothing),
        "postgresql-connections-killed": (pg, kill, kill),
    }


async def _run(names: list[str] | None, pg_dsn: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        scenarios = _scenarios(tmp, pg_dsn)
        print("journal faults: 3,000 calls through the journal worker, the fault after 1,000,")
        print("healed after 2,000; target: 0 acknowledged records lost")
        for name, (url, strike, heal) in scenarios.items():
            if names and name not in names:
                continue
            f = await _drive(url, tmp / f"spool-{name}", strike, heal)
            lost_before = f.lost_with_the_store if "deleted" in name or "dropped" in name else 0
            expected = f.acknowledged - lost_before
            print(
                f"  {name:30} calls started {f.started}, ended in the store {f.calls_whole};"
                f" records acknowledged {f.acknowledged}, stored after recovery {f.stored}"
                f" (destroyed with the store by the fault {lost_before}; acknowledged lost"
                f" {expected - f.stored}); slowest journal write {f.slowest_write_s * 1e3:.2f} ms"
            )
            if url.startswith("postgresql"):
                conn, schema = await admin_connection(url)
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                await conn.close()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.journal_faults")
    parser.add_argument("--only", default=None, help="comma-separated scenario names")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    asyncio.run(_run(args.only.split(",") if args.only else None, args.pg))


if __name__ == "__main__":
    main()
