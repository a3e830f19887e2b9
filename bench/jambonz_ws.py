"""jambonz over its WebSocket API against jambonz over webhooks: the server's CPU per event.

    python -m bench.jambonz_ws [--calls 300] [--concurrency 16] [--rounds 3]

One `ivr serve` process (in-memory state, the SQLite demo directory, no journal) serves both
transports, pinned to core 0 (`taskset -c 0`); the load runs here, on core 1. Each call is
three events, as jambonz sends them: the call (`session:new` / the call hook; the caller is
found by ANI and asked for a date of birth), the gather's answer (`verb:hook` / the
actionHook; verified, routed) and the `completed` call status; over WebSocket each call also
opens and closes its own socket, as jambonz does. The load is the simulator's drivers
(simulator/remote_jambonz*.py), which parse every document: their CPU is the load's, not the
server's, so the figure compared is the server's CPU time per event (from /proc), which
neither the load nor other work on the machine inflates the way it does wall-clock rates.

Each round runs both transports in a shuffled order; the median of the rounds is printed
with their extremes, and the WebSocket/HTTP ratio is taken within a round. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.machine import describe
from ivr.bootstrap import Project
from simulator.driver import CallDriver
from simulator.remote_jambonz import RemoteJambonzDriver
from simulator.remote_jambonz_ws import JambonzWsDriver

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
ALICE, DEMO_LINE, BIRTH = "+447700900123", "+441134960000", "01021980#"
SECRET, USER, PASSWORD = "bench-jambonz-secret", "bench-app", "bench-ws-password"
EVENTS_PER_CALL = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: its cost, whatever else the machine is doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _server(folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    db = folder / "directory.db"
    subprocess.run(
        [sys.executable, "-m", "ivr", "customers", "import", "config/demo-customers.csv"]
        + ["--db", str(db)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    env = {
        **os.environ,
        "IVR_JAMBONZ_SECRET": SECRET,
        "IVR_JAMBONZ_WS_USERNAME": USER,
        "IVR_JAMBONZ_WS_PASSWORD": PASSWORD,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "ivr.cli.serve", "--port", str(port), "--db", str(db)]
    command += ["--journal", "none", "--log-level", "warning"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        yield process, port
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
        log.close()


async def _ready(port: int, process: subprocess.Popen[bytes]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError("the server exited")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError("the server did not become ready")


async def _one_call(make: Callable[[], CallDriver], call_id: str) -> None:
    driver = make()
    try:
        await driver.start(call_id, ALICE, DEMO_LINE, "unknown")
        await driver.press(BIRTH)
        await driver.hang_up()
    finally:
        await driver.close()


async def _run(make: Callable[[], CallDriver], calls: int, concurrency: int, tag: str) -> float:
    """Play `calls` calls, `concurrency` at a time; the wall time."""
    queue = list(range(calls))

    async def caller() -> None:
        while queue:
            number = queue.pop()
            await _one_call(make, f"bench-{tag}-{number}")

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return time.perf_counter() - started


async def _measure(args: argparse.Namespace, pid: int, port: int) -> dict[str, list[float]]:
    drivers: dict[str, Callable[[], CallDriver]] = {
        "http": lambda: RemoteJambonzDriver(f"http://127.0.0.1:{port}", SECRET, project=PROJECT),
        "ws": lambda: JambonzWsDriver(f"ws://127.0.0.1:{port}", USER, PASSWORD, project=PROJECT),
    }
    for name, make in drivers.items():  # warm-up: imports, caches, the directory's pages
        await _run(make, 20, 4, f"warm-{name}")
    figures: dict[str, list[float]] = {"http": [], "ws": [], "http_rate": [], "ws_rate": []}
    for round_number in range(args.rounds):
        order = list(drivers)
        random.shuffle(order)
        for name in order:
            before = _cpu_seconds(pid)
            wall = await _run(drivers[name], args.calls, args.concurrency, f"{round_number}{name}")
            used = _cpu_seconds(pid) - before
            events = args.calls * EVENTS_PER_CALL
            figures[name].append(used / events * 1e6)
            figures[f"{name}_rate"].append(events / wall)
    return figures


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} (rounds {min(values):.0f}-{max(values):.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jambonz_ws", description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="calls per transport and round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(describe())
    before = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {1})  # the load on core 1, the server on core 0
    try:
        with tempfile.TemporaryDirectory() as folder, _server(Path(folder)) as (process, port):

            async def run() -> dict[str, list[float]]:
                await _ready(port, process)
                return await _measure(args, process.pid, port)

            figures = asyncio.run(run())
    finally:
        os.sched_setaffinity(0, before)
    ratios = [ws / http for ws, http in zip(figures["ws"], figures["http"], strict=True)]
    print(f"{args.calls} calls x {EVENTS_PER_CALL} events per transport and round, ", end="")
    print(f"{args.concurrency} at a time, {args.rounds} rounds")
    print(f"  server CPU per event, jambonz webhooks:  {_spread(figures['http'])} us")
    print(f"  server CPU per event, jambonz WebSocket: {_spread(figures['ws'])} us")
    print(f"  WebSocket / webhooks CPU per event: {statistics.median(ratios):.2f}")
    print(f"  events/s (load-bound here), webhooks: {_spread(figures['http_rate'])}")
    print(f"  events/s (load-bound here), WebSocket: {_spread(figures['ws_rate'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
