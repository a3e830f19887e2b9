"""Records per second written through JournalWriter to SQLite and to PostgreSQL.

Calls are fed the way the engine would: a few records per event, many calls interleaved, the
event loop yielding between events. Reports the cost of `write()` on the caller's path (what
the engine pays) and the sustained rate at which the background task stores records.

    .venv/bin/python -m bench.journal_throughput --calls 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from pathlib import Path

import asyncpg

from ivr.journal.hub import JournalHub
from ivr.journal.pg_store import split_url
from ivr.journal.records import JournalRecord
from ivr.journal.store import open_store
from ivr.journal.synthetic import build_call, random_script
from ivr.journal.writer import JournalWriter

CONCURRENT_CALLS = 200


def events(n_calls: int, seed: int = 3) -> list[list[JournalRecord]]:
    """Every call's records cut into per-event chunks (1-3 records), calls interleaved."""
    rng = random.Random(seed)
    now = time.time()
    calls = [build_call(random_script(rng, f"tp-{i}", now + i * 0.01)) for i in range(n_calls)]
    out: list[list[JournalRecord]] = []
    for base in range(0, n_calls, CONCURRENT_CALLS):
        group = [iter(c) for c in calls[base : base + CONCURRENT_CALLS]]
        while group:
            alive = []
            for it in group:
                chunk = [r for _, r in zip(range(rng.randint(1, 3)), it, strict=False)]
                if chunk:
                    out.append(chunk)
                    alive.append(it)
            group = alive
    return out


async def run(url: str, chunks: list[list[JournalRecord]]) -> tuple[float, float, float, int]:
    store = await open_store(url)
    total = sum(len(c) for c in chunks)
    # The feed here outruns any database, so the queue holds everything: we measure how fast
    # the store drains it, not the drop policy (tests cover that).
    writer = JournalWriter(store, JournalHub(), max_queue=total, batch_size=1000, interval=0.2)
    writer.start()
    write_time = 0.0
    t0 = time.perf_counter()
    for i, chunk in enumerate(chunks):
        w0 = time.perf_counter()
        writer.write(chunk)
        write_time += time.perf_counter() - w0
        if i % 20 == 0:
            await asyncio.sleep(0)  # the engine awaits I/O between events
    fed = time.perf_counter() - t0
    await writer.close()
    elapsed = time.perf_counter() - t0
    await store.close()
    assert writer.written + writer.dropped == total
    return writer.written / elapsed, write_time / len(chunks) * 1e6, fed, writer.dropped


async def bench(args: argparse.Namespace) -> None:
    chunks = events(args.calls)
    total = sum(len(c) for c in chunks)
    print(f"{args.calls:,} calls, {total:,} records in {len(chunks):,} events")
    targets = []
    if not args.skip_sqlite:
        targets.append(("sqlite", f"sqlite:///{args.sqlite}"))
    if not args.skip_pg:
        targets.append(("postgresql", args.pg))
    print(f"{'store':12} {'records/s':>10} {'write() µs/event':>17} {'fed in s':>9} {'dropped':>8}")
    for label, url in targets:
        rate, per_write, fed, dropped = await run(url, chunks)
        print(f"{label:12} {rate:10,.0f} {per_write:17.2f} {fed:9.2f} {dropped:8}")
        if label == "postgresql":
            dsn, schema = split_url(url)
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()


def remove_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="JournalWriter throughput")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--sqlite", default=f"var/bench-throughput-{os.getpid()}.db")
    parser.add_argument(
        "--pg",
        default=f"postgresql://postgres@127.0.0.1:5432/test?schema=ivr_tp_{os.getpid()}",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args(argv)
    Path(args.sqlite).parent.mkdir(parents=True, exist_ok=True)
    remove_sqlite(args.sqlite)
    try:
        asyncio.run(bench(args))
    finally:
        remove_sqlite(args.sqlite)


if __name__ == "__main__":
    main()
