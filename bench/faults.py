"""Fault benchmark (issue 12): calls placed through a real `ivr serve` while a dependency
fails, and what came of them.

    python -m bench.faults [--only NAME,...] [--callers 8] [--gap 0.2] [--list]

For each fault: calls started, calls that finished on their flow (the caller identified by
number, verified by date of birth and transferred as verified, not sent to an agent by an
error), the slowest webhook, and what else the fault's scenario counts (a journal fault: the
calls acknowledged, i.e. both webhooks answered, and how many of them are not whole in the store
once the journal has recovered and drained; PostgreSQL at --pg). Targets: >= 99 % of calls on
their flow across a Redis failover; every webhook <= 4 s; 0 acknowledged journal records lost.

The faults are a registry: a scenario is an async function decorated with
`@fault("name", "what it does")` that returns an `Outcome`; `Load` places calls against a
server and counts them, `Server` runs `ivr serve` (its `serve()`, with Alice in a dict
directory: a SQLite directory adds its own lockout behaviour to the figures) in a process of
its own. Redis faults start their own topologies from Debian's redis-server and
redis-sentinel on free loopback ports (bench.local_redis) and stop them after.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import local_redis
from bench.webhooks import ALICE_OTHER_NUMBERS
from ivr.adapters.json_webhook import signature

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-faults-webhook-secret"
DEMO_LINE = "+441134960000"
WEBHOOK_LIMIT_S = 4.0
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Outcome:
    """What one fault scenario measured."""

    started: int
    on_flow: int
    slowest_s: float
    notes: dict[str, str] = field(default_factory=dict)  # scenario-specific figures


Scenario = Callable[["Options"], Awaitable[Outcome]]


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    run: Scenario


FAULTS: dict[str, Fault] = {}


def fault(name: str, what: str) -> Callable[[Scenario], Scenario]:
    """Register a scenario under `name` (the `--only` key)."""

    def register(run: Scenario) -> Scenario:
        FAULTS[name] = Fault(name, what, run)
        return run

    return register


@dataclass(frozen=True)
class Options:
    callers: int = 8  # calls in progress at once
    gap_s: float = 0.2  # between a call's two webhooks (a caller typing)
    pg: str = PG_DSN  # PostgreSQL for the journal faults (a schema each, dropped after)


# -- the server and the load ------------------------------------------------------------------


class Server:
    """`ivr serve` in its own process on a free loopback port."""

    def __init__(self, *, redis_url: str | None = None, journal_url: str | None = None) -> None:
        self.port = local_redis.free_port()
        command = [sys.executable, "-m", "bench.faults", "--role", "server"]
        command += ["--port", str(self.port)]
        if redis_url:
            command += ["--redis", redis_url]
        if journal_url:
            command += ["--journal", journal_url]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout_s: float = 20.0) -> None:
        end = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < end:
                if self.process.poll() is not None:
                    raise RuntimeError("the server exited at startup")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("the server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class Load:
    """Callers placing Alice's call one after another until stopped; counts what came of it."""

    def __init__(self, server: Server, options: Options) -> None:
        self.server = server
        self.options = options
        self.started = 0
        self.on_flow = 0
        self.slowest_s = 0.0
        # calls whose every webhook was answered (their journal records acknowledged), with the
        # time the last answer came
        self.answered: list[tuple[str, float]] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Load:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._tasks = [
            asyncio.create_task(self._caller(f"{ALICE_OTHER_NUMBERS}{n:02d}"))
            for n in range(self.options.callers)
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        if self._session is not None:
            await self._session.close()

    def outcome(self, **notes: str) -> Outcome:
        return Outcome(self.started, self.on_flow, self.slowest_s, dict(notes))

    async def _caller(self, ani: str) -> None:
        """One caller, from its own number of Alice's (see bench.webhooks.ALICE_OTHER_NUMBERS)."""
        while not self._stop.is_set():
            call_id = uuid.uuid4().hex
            self.started += 1
            started = await self._send(call_id, 1, type="call.started", ani=ani, dnis=DEMO_LINE)
            if started is None:
                continue
            await asyncio.sleep(self.options.gap_s)
            done = await self._send(call_id, 2, type="digits", digits="01021980#")
            if done is not None:
                self.answered.append((call_id, time.time()))
            if done is not None and _on_flow(done):
                self.on_flow += 1

    async def _send(self, call_id: str, number: int, **fields: Any) -> dict[str, Any] | None:
        assert self._session is not None
        body = json.dumps({"event_id": f"e{number}", "call_id": call_id, **fields}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-IVR-Signature": signature(SECRET, body, int(time.time())),
        }
        began = time.monotonic()
        try:
            async with self._session.post(
                f"{self.server.url}/json/events", data=body, headers=headers
            ) as response:
                doc = await response.json() if response.status == 200 else None
        except (aiohttp.ClientError, ValueError):
            doc = None
        self.slowest_s = max(self.slowest_s, time.monotonic() - began)
        return doc if isinstance(doc, dict) else None


def _on_flow(doc: dict[str, Any]) -> bool:
    transfers = [a for a in doc.get("actions", []) if a.get("type") == "transfer"]
    return bool(transfers) and transfers[-1].get("handoff", {}).get("idv_status") == (
        "identified_and_verified"
    )


async def under_load(
    server: Server, options: Options, fault_action: Callable[[], object], settle_s: float = 1.0
) -> Outcome:
    """Calls before, during (`fault_action` runs in a thread) and `settle_s` after the fault."""
    await server.ready()
    async with Load(server, options) as load:
        await asyncio.sleep(settle_s)
        await asyncio.to_thread(fault_action)
        await asyncio.sleep(settle_s)
    return load.outcome()


# -- Redis faults -----------------------------------------------------------------------------


@fault("redis-sentinel-failover", "SENTINEL FAILOVER of the primary (1 replica, 3 sentinels)")
async def sentinel_failover(options: Options) -> Outcome:
    with local_redis.sentinel_set() as topology:
        server = Server(redis_url=topology.url)
        try:
            return await under_load(server, options, topology.failover)
        finally:
            server.stop()


@fault("redis-cluster-failover", "CLUSTER FAILOVER of a primary (3 primaries, 3 replicas)")
async def cluster_failover(options: Options) -> Outcome:
    with local_redis.cluster() as topology:
        server = Server(redis_url=topology.url)
        try:
            return await under_load(server, options, lambda: topology.failover("anything"))
        finally:
            server.stop()


@fault("redis-frozen", "the one Redis server frozen (SIGSTOP) for 5 s, then resumed")
async def redis_frozen(options: Options) -> Outcome:
    with local_redis.standalone() as topology:
        server = Server(redis_url=topology.url)

        def freeze() -> None:
            topology.node.freeze()
            time.sleep(5.0)
            topology.node.thaw()

        try:
            return await under_load(server, options, freeze)
        finally:
            server.stop()


@fault("redis-killed", "the one Redis server killed (SIGKILL), restarted 2 s later (AOF)")
async def redis_killed(options: Options) -> Outcome:
    with local_redis.standalone("--appendonly", "yes", "--appendfsync", "everysec") as topology:
        server = Server(redis_url=topology.url)

        def kill_and_restart() -> None:
            topology.node.kill()
            time.sleep(2.0)
            topology.node.start()

        try:
            return await under_load(server, options, kill_and_restart)
        finally:
            server.stop()


# -- journal faults ---------------------------------------------------------------------------
#
# The journal is written by the server's journal worker; a store it cannot reach sends records to
# the local spool, replayed when the store is back. A call is acknowledged when both its webhooks
# were answered; after recovery (spool and queue empty) every acknowledged call must be whole in
# the store (its row ended). A fault that destroys the store (file deleted, table dropped) takes
# what was stored before it with it: calls answered before the strike are not counted as lost.


async def _journal_idle(server: Server, timeout_s: float = 60.0) -> None:
    """Wait for the server's journal queue and spool to drain (its /metrics say so)."""
    end = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            async with session.get(f"{server.url}/metrics") as response:
                text = await response.text()
            waiting = [
                float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith(("ivr_journal_spool_records ", "ivr_journal_queue_depth "))
            ]
            if waiting and not any(waiting):
                return
            await asyncio.sleep(0.25)
    raise TimeoutError("the journal did not drain")


async def _whole_calls(url: str) -> set[str]:
    from ivr.journal.store import open_store

    store = await open_store(url)
    try:
        rows = await store.fetch("SELECT call_id FROM calls WHERE ended_at IS NOT NULL", {})
    finally:
        await store.close()
    return {str(row[0]) for row in rows}


async def journal_fault(
    url: str,
    options: Options,
    strike: Callable[[], Awaitable[None]],
    heal: Callable[[], Awaitable[None]],
    *,
    destroys: bool,
) -> Outcome:
    """Load on a journalled server; strike after a while, heal a while later, drain, count."""
    server = Server(journal_url=url)
    try:
        await server.ready()
        async with Load(server, options) as load:
            await asyncio.sleep(1.5)
            struck_at = time.time()
            await strike()
            await asyncio.sleep(2.0)
            await heal()
            await asyncio.sleep(1.5)
        await _journal_idle(server)
    finally:
        server.stop()
    whole = await _whole_calls(url)
    counted = [call for call, at in load.answered if not (destroys and at < struck_at + 0.5)]
    lost = sum(1 for call in counted if call not in whole)
    return load.outcome(
        **{"calls acknowledged": str(len(counted)), "lost from the journal": str(lost)}
    )


def _pg_url(name: str, options: Options) -> str:
    return (
        f"{options.pg}?schema=bench_faults_{name.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        "&application_name=bench-faults"
    )


async def _drop_pg_schema(url: str) -> None:
    from bench.journal_faults import admin_connection

    conn, schema = await admin_connection(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _nothing() -> None:
    """The journal heals itself."""


@fault("journal-sqlite-deleted", "the SQLite journal file deleted under the server")
async def sqlite_deleted(options: Options) -> Outcome:
    from bench.journal_faults import delete_sqlite

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/journal.db"

        async def delete() -> None:
            delete_sqlite(url)

        return await journal_fault(url, options, delete, _nothing, destroys=True)


@fault("journal-sqlite-read-only", "the SQLite journal made read-only for 2 s")
async def sqlite_read_only(options: Options) -> Outcome:
    from bench.journal_faults import set_read_only

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/journal.db"

        async def freeze() -> None:
            set_read_only(url, True)

        async def thaw() -> None:
            set_read_only(url, False)

        return await journal_fault(url, options, freeze, thaw, destroys=False)


@fault("journal-postgresql-table-dropped", "the PostgreSQL journal's records table dropped")
async def pg_table_dropped(options: Options) -> Outcome:
    from bench.journal_faults import drop_pg_table

    url = _pg_url("dropped", options)

    async def drop() -> None:
        await drop_pg_table(url)

    try:
        return await journal_fault(url, options, drop, _nothing, destroys=True)
    finally:
        await _drop_pg_schema(url)


@fault("journal-postgresql-killed", "every PostgreSQL journal connection terminated, twice")
async def pg_connections_killed(options: Options) -> Outcome:
    from bench.journal_faults import kill_pg_connections

    url = _pg_url("killed", options)

    async def kill() -> None:
        await kill_pg_connections(url)

    try:
        return await journal_fault(url, options, kill, kill, destroys=False)
    finally:
        await _drop_pg_schema(url)


# -- reporting and entry points ---------------------------------------------------------------


def report(name: str, outcome: Outcome) -> str:
    share = 100.0 * outcome.on_flow / outcome.started if outcome.started else 0.0
    slow = "ok" if outcome.slowest_s <= WEBHOOK_LIMIT_S else "OVER 4 s"
    notes = "".join(f"; {key} {value}" for key, value in outcome.notes.items())
    return (
        f"  {name:34} calls started {outcome.started:5}, on their flow {outcome.on_flow:5} "
        f"({share:5.1f} %), slowest webhook {outcome.slowest_s:5.2f} s ({slow}){notes}"
    )


async def run(names: list[str], options: Options) -> None:
    from bench.machine import describe

    print(describe())
    print(
        f"fault benchmark: {options.callers} callers, {options.gap_s:g} s between a call's two"
        " webhooks; targets: >= 99 % on flow across a Redis failover, every webhook <= 4 s"
    )
    for name in names:
        outcome = await FAULTS[name].run(options)
        print(report(name, outcome), flush=True)


def server_role(port: int, redis_url: str | None, journal_url: str | None) -> None:
    """`ivr serve`'s own serve(), Alice in a dict directory, the JSON webhook signed."""
    from bench.webhooks import DictDirectory
    from ivr.cli.serve import serve
    from ivr.web.logs import setup_logging
    from ivr.web.settings import ServeSettings

    setup_logging("warning")
    settings = ServeSettings(
        directory=DictDirectory(),
        journal_url=journal_url,
        redis_url=redis_url,
        redis_prefix=f"ivr-faults-{uuid.uuid4().hex[:8]}:",
        webhook_secret=SECRET,
    )
    asyncio.run(serve(settings, "127.0.0.1", port))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--only", default=None, help="comma-separated fault names (--list)")
    parser.add_argument("--list", action="store_true", help="name and describe every fault")
    parser.add_argument("--callers", type=int, default=Options.callers)
    parser.add_argument("--gap", type=float, default=Options.gap_s, help="seconds in a call")
    parser.add_argument("--role", choices=["orchestrate", "server"], default="orchestrate")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--journal", default=None)
    parser.add_argument("--pg", default=PG_DSN, help="PostgreSQL for the journal faults")
    args = parser.parse_args(argv)
    if args.role == "server":
        server_role(args.port, args.redis, args.journal)
        return
    if args.list:
        for item in FAULTS.values():
            print(f"{item.name:34} {item.what}")
        return
    names = [name.strip() for name in args.only.split(",")] if args.only else list(FAULTS)
    unknown = sorted(set(names) - set(FAULTS))
    if unknown:
        raise SystemExit(f"--only: unknown {unknown}; choose from {sorted(FAULTS)}")
    asyncio.run(run(names, Options(args.callers, args.gap, args.pg)))


if __name__ == "__main__":
    main()
