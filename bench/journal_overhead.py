"""What the journal costs the engine (issue 4 §4): events per second with the journal off and on.

    .venv/bin/python -m bench.journal_overhead [--calls 5000] [--rounds 3]

The in-process engine (bench/engine.py: flows/idv.yaml, in-memory directory) plays calls of three
events each, yielding to the event loop after every event as a server does between requests.
"off" drops each turn's records, which is what the server does without a journal; "hub only"
gives them to a JournalWriter over a store that keeps nothing (the live views' share). "sqlite"
and "postgresql" hand them to the ProcessJournalWriter that `ivr serve` uses (the database work in
a worker process); "... in-process" to a JournalWriter whose store runs in the engine's own event
loop, for comparison. The clock stops only once `close()` has stored every record. Rounds
alternate the modes and the best of each is kept, to damp noise on a small machine. Wall time is
what the target is about, but on a shared machine it moves with other load, so the engine
process's CPU per event (all its threads) and the worker's (its children's, start included; a
PostgreSQL server's own CPU is not counted) are printed too, best of the rounds as well.
Target: the journal costs < 15 % of the engine's event rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import asyncpg

from bench.engine import ROOT, DictDirectory, _engine
from ivr.bootstrap import Project, load_project
from ivr.engine.events import CallStarted, DigitsCollected
from ivr.engine.runtime import Engine
from ivr.journal.hub import JournalHub
from ivr.journal.pg_store import split_url
from ivr.journal.process_writer import ProcessJournalWriter
from ivr.journal.records import JournalRecord
from ivr.journal.store import JournalStore, open_store
from ivr.journal.writer import JournalWriter, RecordQueue

EVENTS_PER_CALL = 3
TARGET_PCT = 15.0
Write = Callable[[list[JournalRecord]], None]
Timing = tuple[float, float, float]  # wall, engine CPU, worker CPU (seconds)


def children_cpu() -> float:
    """CPU seconds of this process's ended children (the journal workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def timed(run: Awaitable[float]) -> Timing:
    """Wall seconds as `run` measures them, with this process's and its children's CPU."""
    cpu, child = time.process_time(), children_cpu()
    wall = await run
    return wall, time.process_time() - cpu, children_cpu() - child


async def play(engine: Engine, calls: int, prefix: str, write: Write) -> int:
    """Start (withheld number), account number, date of birth per call; records to `write`."""
    records = 0
    for n in range(calls):
        call_id = f"{prefix}{n}"
        turn = await engine.start_call(CallStarted(call_id, None, "+441134960000"))
        write(turn.records)
        records += len(turn.records)
        await asyncio.sleep(0)
        for keys in ("12345678#", "01021980#"):
            turn = await engine.handle(turn.state, DigitsCollected(call_id, keys))
            write(turn.records)
            records += len(turn.records)
            await asyncio.sleep(0)
    return records


def discard(records: list[JournalRecord]) -> None:
    return None


async def without_journal(engine: Engine, calls: int, prefix: str) -> float:
    started = time.perf_counter()
    await play(engine, calls, prefix, discard)
    return time.perf_counter() - started


class NullStore:
    """Stores nothing: what the live side (hub, queue, batching task) costs without a database."""

    async def append(self, records: Sequence[JournalRecord]) -> None:
        return None

    async def close(self) -> None:
        return None


async def with_journal(engine: Engine, calls: int, prefix: str, url: str) -> float:
    """Seconds to play the calls and store every record in this process (store opened first)."""
    store = cast(JournalStore, NullStore()) if url == "null" else await open_store(url)
    writer = JournalWriter(store, JournalHub(), max_queue=calls * 50)
    writer.start()
    started = time.perf_counter()
    records = await play(engine, calls, prefix, writer.write)
    await writer.close()
    elapsed = time.perf_counter() - started
    await store.close()
    check(writer, records)
    return elapsed


async def with_worker(engine: Engine, calls: int, prefix: str, url: str) -> float:
    """Seconds to play the calls and store every record through the worker (started first)."""
    writer = ProcessJournalWriter(url, JournalHub(), max_queue=calls * 50)
    await writer.wait_ready()
    started = time.perf_counter()
    records = await play(engine, calls, prefix, writer.write)
    await writer.close()
    elapsed = time.perf_counter() - started
    check(writer, records)
    return elapsed


def check(writer: RecordQueue, records: int) -> None:
    if writer.dropped or writer.written != records:
        raise RuntimeError(f"journal lost records: {writer.dropped} dropped of {records}")


async def drop_schema(url: str) -> None:
    dsn, schema = split_url(url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def bench(args: argparse.Namespace) -> None:
    loaded = load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))
    engine = _engine(loaded, loaded.registry, DictDirectory())
    await without_journal(engine, 500, "warm-")
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores; "
        f"{args.calls:,} calls x {EVENTS_PER_CALL} events, best of {args.rounds} rounds"
    )
    with tempfile.TemporaryDirectory() as folder:
        modes: dict[str, Callable[[str], Awaitable[float]]] = {
            "off": lambda prefix: without_journal(engine, args.calls, prefix),
            "hub only": lambda prefix: with_journal(engine, args.calls, prefix, "null"),
            "sqlite": lambda prefix: with_worker(
                engine, args.calls, prefix, f"sqlite:///{folder}/{prefix}journal.db"
            ),
            "sqlite in-process": lambda prefix: with_journal(
                engine, args.calls, prefix, f"sqlite:///{folder}/{prefix}inproc.db"
            ),
        }
        if not args.skip_pg:
            modes["postgresql"] = lambda prefix: with_worker(
                engine, args.calls, prefix, f"{args.pg}_{prefix.rstrip('-')}w"
            )
            modes["pg in-process"] = lambda prefix: with_journal(
                engine, args.calls, prefix, f"{args.pg}_{prefix.rstrip('-')}"
            )
        best: dict[str, Timing] = {}
        try:
            for round_ in range(args.rounds):
                for mode, run in modes.items():
                    got = await timed(run(f"r{round_}-"))
                    was = best.get(mode, got)
                    best[mode] = (min(was[0], got[0]), min(was[1], got[1]), min(was[2], got[2]))
        finally:
            if not args.skip_pg:
                for round_ in range(args.rounds):
                    await drop_schema(f"{args.pg}_r{round_}")
                    await drop_schema(f"{args.pg}_r{round_}w")
    events = args.calls * EVENTS_PER_CALL
    base = events / best["off"][0]
    print(
        f"{'journal':17} {'events/s':>10} {'µs/event':>9} {'cost':>8}"
        f"  {'engine CPU':>10} {'worker':>7}"
    )
    for mode, (seconds, cpu, worker) in best.items():
        rate = events / seconds
        cost = (1 - rate / base) * 100
        verdict = "" if mode == "off" else ("ok" if cost < TARGET_PCT else "over target")
        print(
            f"{mode:17} {rate:10,.0f} {seconds / events * 1e6:9.1f} {cost:7.1f}%"
            f"  {cpu / events * 1e6:10.1f} {worker / events * 1e6:7.1f}  {verdict}"
        )
    print(f"(cost: share of the engine's event rate lost to the journal; target < {TARGET_PCT:g}%)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="engine event rate with the journal on vs off")
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--pg",
        default=f"postgresql://postgres@127.0.0.1:5432/test?schema=ivr_overhead_{os.getpid()}",
        help="PostgreSQL URL; a suffix per round is added to the schema",
    )
    parser.add_argument("--skip-pg", action="store_true")
    asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
