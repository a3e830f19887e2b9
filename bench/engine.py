"""Engine benchmarks (issue 2 §8): time per event, memory per active call, load+compile time.

    python -m bench.engine [--calls 10000] [--events 3000]

Prints figures; asserts nothing. The machine is shared, so wall time moves with other load:
compare changes with the CPU time per event (`time.process_time`, median of rounds) and the
Python calls per event (cProfile), which do not. Targets: median engine time per event
<= 250 µs; memory per active call <= 16 KiB on flows/idv.yaml and on a generated 200-step
flow alike; load + validate + compile <= 20 ms for flows/idv.yaml and <= 100 ms for the
200-step flow.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.machine import describe
from ivr.bootstrap import Loaded, Project, load_project
from ivr.directory.port import Customer, LookupResult, LookupStatus, VerifyStatus
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.directory_ops import registry_for
from ivr.engine.events import CallStarted, DigitsCollected
from ivr.engine.registry import FlowRegistry
from ivr.engine.runtime import Engine
from ivr.engine.state import CallState
from ivr.flow.compiler import compile_flow
from ivr.flow.loader import ValidationContext, load_flow, load_flow_text
from ivr.journal.records import JournalRecord
from ivr.tokens import TokenIssuer

ROOT = Path(__file__).resolve().parents[1]


class DictDirectory:
    """Customers in a dict: measures the engine without a database round trip."""

    def __init__(self) -> None:
        self.alice = Customer("C1001", "Alice Example")

    async def lookup_by_phone(self, e164: str) -> LookupResult:
        found = e164 == "+447700900123"
        return LookupResult.found(self.alice) if found else LookupResult(LookupStatus.NOT_FOUND)

    async def lookup_by_account(self, account_number: str) -> LookupResult:
        found = account_number == "12345678"
        return LookupResult.found(self.alice) if found else LookupResult(LookupStatus.NOT_FOUND)

    async def verify_answer(
        self, customer_id: str, field: str, answer: str, positions: Sequence[int] = ()
    ) -> VerifyStatus:
        return VerifyStatus.VERIFIED if answer == "01021980" else VerifyStatus.WRONG

    async def close(self) -> None:
        return None


class CountingSink:
    """The journal hand-off the engine pays for: records are queued, not written, per event."""

    def __init__(self) -> None:
        self.queue: list[JournalRecord] = []

    def write(self, records: list[JournalRecord]) -> None:
        self.queue.extend(records)
        if len(self.queue) > 10_000:
            self.queue.clear()


def generated_flow(steps: int) -> str:
    lines = [
        "schema_version: 1",
        'flow: {id: big, version: "1", languages: [en-GB]}',
        "steps:",
    ]
    for index in range(steps):
        following = f"m{index + 1}" if index + 1 < steps else "result.not_identified"
        lines += [
            f"  - step: m{index}",
            f'    menu: {{prompt: welcome, choices: {{"1": {following}, "2": route.agent}}}}',
            "    outcomes: {max_attempts: route.agent}",
        ]
    lines += ["results:", "  not_identified: {route: agent}"]
    return "\n".join(lines) + "\n"


def _engine(loaded: Loaded, registry: FlowRegistry, directory: object) -> Engine:
    return Engine(
        registry,
        loaded.config,
        loaded.catalog,
        registry_for(directory),  # type: ignore[arg-type]
        TokenIssuer("benchmark-token-key-of-sufficient-length"),
    )


async def time_per_event(engine: Engine, events: int, sink: CountingSink) -> list[float]:
    """Each call: start (withheld number), account number, date of birth. µs per event."""
    samples: list[float] = []
    call = 0
    while len(samples) < events:
        call += 1
        call_id = f"b{call}"
        started = time.perf_counter()
        turn = await engine.start_call(CallStarted(call_id, None, "+441134960000"))
        sink.write(turn.records)
        samples.append((time.perf_counter() - started) * 1e6)
        for keys in ("12345678#", "01021980#"):
            started = time.perf_counter()
            turn = await engine.handle(turn.state, DigitsCollected(call_id, keys))
            sink.write(turn.records)
            samples.append((time.perf_counter() - started) * 1e6)
    return samples


async def cpu_per_event(
    engine: Engine, sink: CountingSink, rounds: int = 15, events: int = 600
) -> float:
    """Median over `rounds` of this process's CPU time per event, in µs."""
    medians: list[float] = []
    for _ in range(rounds):
        started = time.process_time()
        await time_per_event(engine, events, sink)
        medians.append((time.process_time() - started) / events * 1e6)
    return statistics.median(medians)


async def calls_per_event(engine: Engine, sink: CountingSink, events: int = 1500) -> float:
    """Python function calls per event, as cProfile counts them (the bench's own included)."""
    profile = cProfile.Profile()
    profile.enable()
    await time_per_event(engine, events, sink)
    profile.disable()
    stats: Any = pstats.Stats(profile)
    total: int = sum(entry[1] for entry in stats.stats.values())  # (cc, nc, tt, ct, callers)
    return total / events


async def memory_per_call(engine: Engine, calls: int, flow_id: str, keys: str) -> float:
    """Bytes held per call with `calls` calls mid-flow (state kept as a worker would)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held: list[CallState] = []
    for index in range(calls):
        turn = await engine.start_call(
            CallStarted(f"m{index}", None, "+441134960000"), flow_id=flow_id
        )
        turn = await engine.handle(turn.state, DigitsCollected(f"m{index}", keys))
        held.append(turn.state)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert all(not state.ended for state in held)
    return (after - before) / calls


def load_times(loaded: Loaded, big_text: str, repeats: int = 20) -> tuple[float, float]:
    context = ValidationContext(catalog=loaded.catalog, config=loaded.config)
    idv, big = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        flow = load_flow(ROOT / "flows" / "idv.yaml", context)
        compile_flow(flow.flow, flow.path, flow.step_lines)
        idv.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        flow = load_flow_text(big_text, "big.yaml", context)
        compile_flow(flow.flow, flow.path, flow.step_lines)
        big.append((time.perf_counter() - started) * 1000)
    return statistics.median(idv), statistics.median(big)


async def run(calls: int, events: int) -> None:
    loaded = load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))
    big_text = generated_flow(200)
    context = ValidationContext(catalog=loaded.catalog, config=loaded.config)
    big = load_flow_text(big_text, "big.yaml", context)
    registry = loaded.registry
    registry.add(compile_flow(big.flow, big.path, big.step_lines))
    print(describe())

    sink = CountingSink()
    engine = _engine(loaded, registry, DictDirectory())
    await time_per_event(engine, 600, sink)  # warm up
    samples = await time_per_event(engine, events, sink)
    print(
        f"engine time per event, in-memory directory: median {statistics.median(samples):.0f} µs, "
        f"p99 {statistics.quantiles(samples, n=100)[98]:.0f} µs over {len(samples)} events "
        "(target: median <= 250 µs)"
    )
    cpu = await cpu_per_event(engine, sink)
    python_calls = await calls_per_event(engine, sink)
    print(
        f"engine CPU per event, in-memory directory: median {cpu:.0f} µs over 15 rounds of "
        f"600 events; {python_calls:.0f} Python calls per event (cProfile)"
    )

    with tempfile.TemporaryDirectory() as folder:
        from ivr.directory.csv_import import import_file

        await import_file(ROOT / "config" / "demo-customers.csv", Path(folder) / "d.db")
        directory = await SqliteDirectory.open(Path(folder) / "d.db")
        sqlite_engine = _engine(loaded, registry, directory)
        await time_per_event(sqlite_engine, 300, sink)
        samples = await time_per_event(sqlite_engine, min(events, 1500), sink)
        await directory.close()
    print(
        f"engine time per event, SQLite directory: median {statistics.median(samples):.0f} µs, "
        f"p99 {statistics.quantiles(samples, n=100)[98]:.0f} µs over {len(samples)} events"
    )

    idv_bytes = await memory_per_call(engine, calls, "idv", "12345678#")
    big_bytes = await memory_per_call(engine, calls, "big", "1")
    print(
        f"memory per active call ({calls} calls mid-flow): flows/idv.yaml "
        f"{idv_bytes / 1024:.1f} KiB, 200-step flow {big_bytes / 1024:.1f} KiB "
        "(target: <= 16 KiB each, the same for both)"
    )

    idv_ms, big_ms = load_times(loaded, big_text)
    print(
        f"load + validate + compile: flows/idv.yaml {idv_ms:.1f} ms (target <= 20 ms), "
        f"200-step flow {big_ms:.1f} ms (target <= 100 ms)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=3_000)
    args = parser.parse_args(argv)
    asyncio.run(run(args.calls, args.events))


if __name__ == "__main__":
    main()
