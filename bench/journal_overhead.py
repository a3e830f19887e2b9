"""What the journal costs the engine (issue 4 §4): events per second with the journal off and on.

    .venv/bin/python -m bench.journal_overhead [--calls 2000] [--rounds 10] [--in-process]

The in-process engine (bench/engine.py: flows/idv.yaml, in-memory directory) plays calls of three
events each, yielding to the event loop after every event as a server does between requests.
"off" drops each turn's records, which is what the server does without a journal; "hub only"
gives them to a JournalWriter over a store that keeps nothing (the live views' share). "sqlite"
and "postgresql" hand them to the ProcessJournalWriter that `ivr serve` uses (the database work in
a worker process, started before the clock); `--in-process` adds a JournalWriter whose store runs
in the engine's own event loop, for comparison. The clock stops only once `close()` has stored
every record: what is still queued when the engine is done (up to the sender's window of
batches when the worker is busy) counts, and its median "drain" is shown; runs of a second or
more keep it a small share.

Why paired short rounds: on a small shared machine one long run per mode measures the neighbours
as much as the journal (the same code gave 3 % and 33 %). So each round runs, for every journal
mode in a shuffled order, a pair: that mode and "off" back to back, in random order. Each pair
gives one cost, the share of the event rate lost (1 - rate on / rate off) under the same load;
the table shows the median cost over the rounds and its spread (interquartile
range and min..max). Beside wall time it shows CPU per event: the engine process's (all its
threads; what the journal adds there is the engine's own cost, which other load inflates far less
than wall time) and the worker's (from its ready line to its exit, so its start is not counted;
a PostgreSQL server's own CPU is not counted). The load average before and after is printed:
figures taken while it is well above zero are not quiet-machine figures.
With two cores the engine runs on core 0, the journal worker and the local PostgreSQL and Redis
on core 1 (`--unpinned` leaves them to the scheduler), as bench.webhooks places server and load.

Issue 4's target, < 15 % of the engine's event rate, is taken where the engine serves calls:
bench.webhooks' "journal costs" lines, `ivr serve` with and without its journal. This benchmark
is the strictest view of the same cost: the engine's core alone, with no HTTP around it, does an
event in a fifth of what a served webhook takes, so the same few µs per event are a share about
four times as large here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import asyncpg

from bench.engine import ROOT, DictDirectory, _engine
from bench.machine import describe, services_on
from ivr.bootstrap import Project, load_project
from ivr.engine.events import CallStarted, DigitsCollected
from ivr.engine.runtime import Engine
from ivr.journal.hub import JournalHub
from ivr.journal.pg_store import split_url
from ivr.journal.process_writer import ProcessJournalWriter
from ivr.journal.records import JournalRecord
from ivr.journal.store import JournalStore, open_store
from ivr.journal.worker import CPUS_ENV
from ivr.journal.writer import JournalWriter, RecordQueue

EVENTS_PER_CALL = 3
TARGET_PCT = 15.0
OFF = "off"
Write = Callable[[list[JournalRecord]], None]


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run: wall seconds, the engine process's CPU and the worker's (seconds)."""

    wall: float
    engine_cpu: float
    worker_cpu: float = 0.0
    drain: float = 0.0  # of `wall`: from the last event handed over to everything stored


@dataclass(slots=True)
class Pairs:
    """A journal mode's runs and the "off" run paired with each (same round, back to back)."""

    on: list[Run] = field(default_factory=list)
    off: list[Run] = field(default_factory=list)

    def costs(self) -> list[float]:
        """Per pair, the share of the engine's event rate lost, in %: 1 - rate_on / rate_off."""
        return [(1 - off.wall / on.wall) * 100 for on, off in zip(self.on, self.off, strict=True)]

    def cpu_costs(self) -> list[float]:
        """Per pair, how much more CPU the engine process used per event, in %."""
        return [
            (on.engine_cpu / off.engine_cpu - 1) * 100
            for on, off in zip(self.on, self.off, strict=True)
        ]


def spread(values: Sequence[float]) -> tuple[float, float, float, float, float]:
    """Median, lower and upper quartile, min and max (quartiles as `statistics` cuts them)."""
    if len(values) == 1:
        v = values[0]
        return v, v, v, v, v
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return median, q1, q3, min(values), max(values)


def schedule(modes: Sequence[str], rounds: int, rng: random.Random) -> list[list[tuple[str, str]]]:
    """Per round, the journal modes shuffled, each as a pair (mode, off) in random order."""
    plan = []
    for _ in range(rounds):
        order = list(modes)
        rng.shuffle(order)
        plan.append([(m, OFF) if rng.random() < 0.5 else (OFF, m) for m in order])
    return plan


def children_cpu() -> float:
    """CPU seconds of this process's ended children (the journal workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of(pid: int | None) -> float:
    """CPU seconds a running process has used so far (Linux schedstat; 0 where unavailable)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


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


class NullStore:
    """Stores nothing: what the live side (hub, queue, batching task) costs without a database."""

    async def append(self, records: Sequence[JournalRecord]) -> None:
        return None

    async def close(self) -> None:
        return None


def check(writer: RecordQueue, records: int) -> None:
    if writer.dropped or writer.written != records:
        raise RuntimeError(f"journal lost records: {writer.dropped} dropped of {records}")


class Bench:
    """The engine, the folder for SQLite files and the PostgreSQL URL that runs share."""

    def __init__(self, engine: Engine, calls: int, folder: str, pg: str) -> None:
        self.engine = engine
        self.calls = calls
        self.folder = folder
        self.pg = pg
        self.runs = 0

    async def run(self, mode: str) -> Run:
        """One timed run of `mode` over fresh call ids (and a fresh database)."""
        self.runs += 1
        prefix = f"r{self.runs}-"
        if mode == OFF:
            cpu, started = time.process_time(), time.perf_counter()
            await play(self.engine, self.calls, prefix, discard)
            return Run(time.perf_counter() - started, time.process_time() - cpu)
        if mode == "hub only":
            return await self.in_process(prefix, "null")
        if mode == "sqlite":
            return await self.worker(prefix, f"sqlite:///{self.folder}/{prefix}worker.db")
        if mode == "sqlite in-process":
            return await self.in_process(prefix, f"sqlite:///{self.folder}/{prefix}inproc.db")
        url = f"{self.pg}_{self.runs}"
        try:
            if mode == "postgresql":
                return await self.worker(prefix, url)
            return await self.in_process(prefix, url)
        finally:
            await drop_schema(url)

    async def in_process(self, prefix: str, url: str) -> Run:
        """Play and store every record in this process (store opened before the clock)."""
        store = cast(JournalStore, NullStore()) if url == "null" else await open_store(url)
        writer = JournalWriter(store, JournalHub(), max_queue=self.calls * 50)
        writer.start()
        cpu, started = time.process_time(), time.perf_counter()
        records = await play(self.engine, self.calls, prefix, writer.write)
        played = time.perf_counter()
        await writer.close()
        ended = time.perf_counter()
        run = Run(ended - started, time.process_time() - cpu, drain=ended - played)
        await store.close()
        check(writer, records)
        return run

    async def worker(self, prefix: str, url: str) -> Run:
        """Play and store every record through the worker (started, and its start CPU noted)."""
        writer = ProcessJournalWriter(url, JournalHub(), max_queue=self.calls * 50)
        await writer.wait_ready()
        before, at_ready = children_cpu(), cpu_of(writer.pid)
        cpu, started = time.process_time(), time.perf_counter()
        records = await play(self.engine, self.calls, prefix, writer.write)
        played = time.perf_counter()
        await writer.close()
        ended = time.perf_counter()
        engine_cpu = time.process_time() - cpu
        check(writer, records)
        worker_cpu = children_cpu() - before - at_ready
        return Run(ended - started, engine_cpu, worker_cpu, ended - played)


async def drop_schema(url: str) -> None:
    dsn, schema = split_url(url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(results: dict[str, Pairs], events: int) -> None:
    """The table: per mode, median wall cost with its spread, and CPU per event."""
    us = 1e6 / events
    offs = [run for pairs in results.values() for run in pairs.off]
    off_wall = statistics.median(r.wall for r in offs)
    off_cpu = statistics.median(r.engine_cpu for r in offs)
    print(
        f"{'journal':17} {'events/s':>8} {'cost':>6} {'IQR':>13} {'min..max':>15}"
        f"  {'engine CPU µs/ev':>16} {'+CPU':>6} {'worker':>6} {'drain':>6}"
    )
    print(
        f"{OFF:17} {events / off_wall:8,.0f} {'':>6} {'':>13} {'':>15}  {off_cpu * us:16.1f}"
        f" {'':>6} {'':>6} {'':>6}  ({len(offs)} runs)"
    )
    for mode, pairs in results.items():
        median, q1, q3, low, high = spread(pairs.costs())
        cpu_cost = statistics.median(pairs.cpu_costs())
        wall = statistics.median(r.wall for r in pairs.on)
        cpu = statistics.median(r.engine_cpu for r in pairs.on)
        worker = statistics.median(r.worker_cpu for r in pairs.on)
        drain = statistics.median(r.drain for r in pairs.on)
        verdict = f"under {TARGET_PCT:g} %" if median < TARGET_PCT else f"above {TARGET_PCT:g} %"
        print(
            f"{mode:17} {events / wall:8,.0f} {median:5.1f}% {f'{q1:.1f}..{q3:.1f}':>13}"
            f" {f'{low:.1f}..{high:.1f}':>15}  {cpu * us:16.1f} {cpu_cost:5.1f}%"
            f" {worker * us:6.1f} {drain * 1000:4.0f}ms  {verdict}"
        )
    print(
        "cost: share of the event rate lost, median over the pairs (each pair: this mode and"
        f" 'off' back to back).\nIssue 4's < {TARGET_PCT:g} % is taken where the engine serves"
        " calls (bench.webhooks); this engine-core-only view is the strictest.\n+CPU: median"
        " extra engine CPU per event over its pair's 'off'; worker: its CPU per event from ready"
        " to exit;\ndrain:"
        " median time from the last event to everything stored (part of the cost)."
    )


@contextlib.contextmanager
def placed(pin: bool) -> Iterator[None]:
    """With two cores or more: the engine on core 0, the journal worker and the local database
    servers on core 1, so that what is measured on core 0 is the engine's own work (as in
    bench.webhooks); left to the scheduler, a database on the engine's core would be measured
    as the engine's cost."""
    cores = sorted(os.sched_getaffinity(0))
    if not pin or len(cores) < 2:
        yield
        return
    before_env = os.environ.get(CPUS_ENV)
    os.sched_setaffinity(0, {cores[0]})
    os.environ[CPUS_ENV] = str(cores[1])
    try:
        with services_on(cores[1]) as moved:
            print(
                f"engine on core {cores[0]}; worker and {len(moved)} database threads on {cores[1]}"
            )
            yield
    finally:
        os.sched_setaffinity(0, set(cores))
        if before_env is None:
            os.environ.pop(CPUS_ENV, None)
        else:
            os.environ[CPUS_ENV] = before_env


async def bench(args: argparse.Namespace) -> None:
    loaded = load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))
    engine = _engine(loaded, loaded.registry, DictDirectory())
    await play(engine, 500, "warm-", discard)
    modes = ["hub only", "sqlite"] + ([] if args.skip_pg else ["postgresql"])
    if args.in_process:
        modes += ["sqlite in-process"] + ([] if args.skip_pg else ["pg in-process"])
    print(describe())
    print(f"{args.rounds} rounds of {args.calls:,} calls x {EVENTS_PER_CALL} events per run")
    results = {mode: Pairs() for mode in modes}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, placed(not args.unpinned):
        runner = Bench(engine, args.calls, folder, args.pg)
        for pairs in schedule(modes, args.rounds, random.Random(args.seed)):
            for first, second in pairs:
                mode = first if second == OFF else second
                got = {first: await runner.run(first), second: await runner.run(second)}
                results[mode].on.append(got[mode])
                results[mode].off.append(got[OFF])
    print(f"{time.monotonic() - started:.0f} s, load after {load()}")
    report(results, args.calls * EVENTS_PER_CALL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="engine event rate with the journal on vs off")
    parser.add_argument("--calls", type=int, default=10_000, help="calls per run")
    parser.add_argument("--rounds", type=int, default=10, help="pairs per journal mode")
    parser.add_argument("--seed", type=int, default=None, help="for the order of the runs")
    parser.add_argument("--in-process", action="store_true", help="also the in-process stores")
    parser.add_argument(
        "--pg",
        default=f"postgresql://postgres@127.0.0.1:5432/test?schema=ivr_overhead_{os.getpid()}",
        help="PostgreSQL URL; a suffix per run is added to the schema",
    )
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument(
        "--unpinned", action="store_true", help="leave the engine, worker and databases unplaced"
    )
    asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
