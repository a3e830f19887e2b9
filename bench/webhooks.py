"""Webhook server benchmarks (issue 3 §6): signed Twilio webhooks per second through
flows/idv.yaml, against a bare aiohttp handler doing the same parse and signature check.

    python -m bench.webhooks [--seconds 5] [--concurrency 32] [--rate 1000]

The server under test runs in its own process pinned to core 0 (`taskset -c 0`); the load in
another process pinned to core 1, loopback only, bounded in time. Each call is three
webhooks, as Twilio sends them: /twilio/voice (the caller is found by ANI and asked for a
date of birth), /twilio/gather at the TwiML's `action` URL (the answer: verified,
transferred) and the `completed` status callback, each with a valid X-Twilio-Signature.

The load generator is bench/loadgen.py: raw asyncio protocols over keep-alive connections,
one request in flight per connection, requests formatted as bytes in one piece. It is not
aiohttp's client because that costs ~430 µs of CPU per request, so one load core saturated
near 2,250 requests/s and the bare baseline measured the client, not the server. The
generator's own CPU per event and how busy its core was are printed with every figure: as
long as that core has headroom, the rates are the server's.

Every figure is measured `--rounds` times (default 3), the setups in a shuffled order each
round, and printed as the median with the rounds' extremes: on this kind of shared virtual
machine one run can move by +-30 %. Ratios are taken within a round, then the median.

Figures:

- closed loop (N callers, one connection each), events/s: ivr serve with in-memory state;
  the bare handler; their ratio; ivr serve with Redis state;
- open loop at an offered rate (default 1,000 events/s, calls started on schedule whatever
  the answers, over a connection pool that grows when all are busy): p50 / p99 / max
  latency, in-memory state;
- the server's CPU time per event (from /proc), which other load on the machine does not
  inflate the way it does wall-clock rates: 1 / (CPU per event) is what one core can do.

The server is `ivr serve`'s own `serve()` with the customer directory in memory and no
journal, so the headline figures are the server's cost; two more add the SQLite and the
PostgreSQL journal, written as `ivr serve` writes it, by the journal worker process, here
placed on core 1 beside the load ($IVR_JOURNAL_WORKER_CPUS; a worker started by a server pinned
with taskset would otherwise inherit core 0), with what the journal costs the server's event
rate (issue 4's target: < 15 %); one more runs Redis state with the SQLite journal, which turns
on the live bus between workers (compared with Redis state alone); and `--sqlite-directory` the
SQLite demo directory (which writes a transaction per verification). `--only` picks setups.
The local PostgreSQL and Redis servers are moved to the load's core for the run and back after
(`--services-anywhere` leaves them): on core 0 they would take the server's time and caches.
After each run with a journal the stores are counted (the server has exited, so everything is
written): records per second stored while serving, and calls stored and ended against calls
started. Prints figures; asserts nothing.

Targets: >= 2,500 events/s and ratio >= 0.3 in memory,
>= 1,500 events/s with Redis, p99 <= 20 ms at 1,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import asyncpg

from bench import local_redis
from bench.journal_overhead import drop_schema
from bench.loadgen import TwilioCalls, closed_loop, open_loop
from bench.machine import describe, services_on
from ivr.directory.port import Customer, LookupResult, LookupStatus, VerifyStatus
from ivr.journal.pg_store import split_url
from ivr.journal.worker import CPUS_ENV

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-twilio-auth-token-0123456789abcdef"
REDIS_URL = os.environ.get("IVR_BENCH_REDIS", "redis://127.0.0.1:6379/0")
ALICE, DEMO_LINE = "+447700900123", "+441134960000"
# Alice's other numbers (+4477009002nn), one per concurrent caller where a load verifies her:
# concurrent verifications from one number are what the fair lockout counts as parallel guessing
ALICE_OTHER_NUMBERS = "+4477009002"
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf" '
    'action="/twilio/gather?step=date_of_birth&amp;attempt=1&amp;max=8" numDigits="8" '
    'finishOnKey="#" timeout="5" actionOnEmptyResult="true"><Say>Hello</Say></Gather></Response>'
)


FIELDS = {  # what Twilio posts on every voice webhook, besides CallSid and CallStatus
    "AccountSid": "AC" + "0" * 32,
    "ApiVersion": "2010-04-01",
    "Called": DEMO_LINE,
    "CalledCountry": "GB",
    "Caller": ALICE,
    "CallerCountry": "GB",
    "Direction": "inbound",
    "From": ALICE,
    "FromCountry": "GB",
    "StirVerstat": "TN-Validation-Passed-A",
    "To": DEMO_LINE,
    "ToCountry": "GB",
}


# -- the load (a subprocess on core 1, bench/loadgen.py) -----------------------------------


def _calls(port: int) -> TwilioCalls:
    return TwilioCalls("127.0.0.1", port, TOKEN, FIELDS, digits="01021980")


# -- the bare baseline server --------------------------------------------------------------


def bare_server(port: int) -> None:
    """Parse the same form and check the same signature, then answer fixed TwiML."""
    from aiohttp import web

    from ivr.adapters.signatures import verify_twilio

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        params = parse_qsl(body.decode(), keep_blank_values=True)
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        if not verify_twilio(TOKEN, url, params, request.headers.get("X-Twilio-Signature")):
            return web.Response(status=403)
        return web.Response(text=TWIML, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/twilio/{path}", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- the server under test, with a directory in memory ------------------------------------


class DictDirectory:
    """Alice in a dict: the server's own cost, without the directory's database round trips."""

    alice = Customer("C1001", "Alice Example")

    async def lookup_by_phone(self, e164: str) -> LookupResult:
        found = e164 == ALICE or e164.startswith(ALICE_OTHER_NUMBERS)
        return LookupResult.found(self.alice) if found else LookupResult(LookupStatus.NOT_FOUND)

    async def lookup_by_account(self, account_number: str) -> LookupResult:
        return LookupResult(LookupStatus.NOT_FOUND)

    async def verify_answer(
        self, customer_id: str, field: str, answer: str, positions: Sequence[int] = ()
    ) -> VerifyStatus:
        return VerifyStatus.VERIFIED if answer == "01021980" else VerifyStatus.WRONG

    async def close(self) -> None:
        return None


def dict_server(
    port: int, journal: str | None, redis_url: str | None, prefix: str, client: str = "auto"
) -> None:
    """`ivr serve` exactly, except that the directory is the dict above."""
    from ivr.cli.serve import serve
    from ivr.settings import Settings
    from ivr.web.logs import setup_logging
    from ivr.web.settings import ServeSettings

    setup_logging("warning")
    settings = ServeSettings(
        env=Settings(),  # IVR_TWILIO_AUTH_TOKEN from the orchestrator, as `ivr serve` reads it
        directory=DictDirectory(),
        journal_url=journal,
        redis_url=redis_url,
        redis_prefix=prefix,
        redis_client=client,
        reports_key="bench-reports-key",  # live views served: with Redis the bus also listens
    )
    asyncio.run(serve(settings, "127.0.0.1", port))


# -- orchestration -------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: its cost, whatever else the machine is doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pinned(core: int, args: list[str]) -> list[str]:
    return (["taskset", "-c", str(core)] if shutil.which("taskset") else []) + args


async def _wait_ready(port: int, path: str, process: subprocess.Popen[bytes]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError("server exited early")
            try:
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    if response.status in (200, 404, 405):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("server did not start")


def _run_load(port: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.webhooks", "--role", mode, "--port", str(port)]
    command += ["--seconds", str(args.seconds), "--concurrency", str(args.concurrency)]
    command += ["--rate", str(args.rate)]
    done = subprocess.run(
        _pinned(LOAD_CORE, command), cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _measure(
    server: list[str], ready: str, loads: list[str], args: argparse.Namespace, workdir: Path
) -> list[dict[str, Any]]:
    port = _free_port()
    env = {**os.environ, "IVR_TWILIO_AUTH_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    if (os.cpu_count() or 1) > 1:  # the journal worker would inherit the server's core 0
        env[CPUS_ENV] = "1"
    command = _pinned(0, [sys.executable, *server, "--port", str(port)])
    with (workdir / f"server-{port}.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        asyncio.run(_wait_ready(port, ready, process))
        results = []
        for mode in loads:
            before = _cpu_seconds(process.pid)
            result = _run_load(port, mode, args)
            result["server_cpu_s"] = _cpu_seconds(process.pid) - before
            results.append(result)
        return results
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


MEMORY, BARE, REDIS = (
    "ivr serve, in-memory state",
    "bare aiohttp + signature",
    "ivr serve, Redis state",
)
SQLITE_JOURNAL, PG_JOURNAL = "in-memory + SQLite journal", "in-memory + PostgreSQL journal"
REDIS_JOURNAL = "Redis + SQLite journal + live bus"
SQLITE_DIRECTORY = "ivr serve, SQLite directory"
REDIS_PY, SENTINEL, CLUSTER = (
    "Redis state, redis-py client",
    "Redis Sentinel state (redis-py)",
    "Redis Cluster state (redis-py)",
)
SETUP_KEYS = {  # what `--only` calls each setup
    MEMORY: "memory",
    BARE: "bare",
    REDIS: "redis",
    SQLITE_JOURNAL: "sqlite-journal",
    PG_JOURNAL: "pg-journal",
    REDIS_JOURNAL: "redis-journal",
    SQLITE_DIRECTORY: "sqlite-directory",
    REDIS_PY: "redis-py",
    SENTINEL: "sentinel",
    CLUSTER: "cluster",
}
LOAD_CORE = 1


@dataclass(frozen=True)
class Setup:
    """One server configuration measured each round."""

    label: str
    server: list[str]
    ready: str
    loads: tuple[str, ...] = ("closed",)
    journal: str | None = None  # its journal's URL: what it stored is counted after each run


def _setups(args: argparse.Namespace, journal: str, prefix: str) -> list[Setup]:
    server = ["-m", "bench.webhooks", "--role", "server"]
    redis = [*server, "--redis", REDIS_URL, "--redis-prefix", prefix]
    setups = [
        Setup(MEMORY, server, "/readyz", ("closed", "open")),
        Setup(BARE, ["-m", "bench.webhooks", "--role", "bare"], "/"),
        Setup(REDIS, redis, "/readyz"),
        Setup(SQLITE_JOURNAL, [*server, "--journal", journal], "/readyz", journal=journal),
        Setup(PG_JOURNAL, [*server, "--journal", args.pg], "/readyz", journal=args.pg),
        Setup(REDIS_JOURNAL, [*redis, "--journal", journal], "/readyz", journal=journal),
    ]
    setups.append(Setup(REDIS_PY, [*redis, "--redis-client", "redis-py"], "/readyz"))
    for label, url in ((SENTINEL, args.sentinel_url), (CLUSTER, args.cluster_url)):
        if url:
            elsewhere = [*server, "--redis", url, "--redis-prefix", prefix]
            setups.append(Setup(label, elsewhere, "/readyz"))
    if args.sqlite_directory:
        from ivr.directory.csv_import import import_file

        db = Path(journal.removeprefix("sqlite:///")).with_name("directory.db")
        asyncio.run(import_file(ROOT / "config" / "demo-customers.csv", db))
        serve = ["-m", "ivr.cli.serve", "--db", str(db), "--log-level", "warning"]
        setups.append(Setup(SQLITE_DIRECTORY, [*serve, "--journal", journal], "/readyz"))
    return setups


def _chosen(setups: list[Setup], only: str | None) -> list[Setup]:
    """The setups named in `--only` (comma-separated keys), always with in-memory state: every
    other figure is compared with it within its round."""
    if not only:
        return setups
    keys = {key.strip() for key in only.split(",")} | {"memory"}
    unknown = keys - set(SETUP_KEYS.values())
    if unknown:
        raise SystemExit(
            f"--only: unknown {sorted(unknown)}; choose from {sorted(SETUP_KEYS.values())}"
        )
    return [setup for setup in setups if SETUP_KEYS[setup.label] in keys]


def orchestrate(args: argparse.Namespace) -> None:
    """Every setup once per round, in a shuffled order; medians over the rounds.

    The host's other tenants move single figures by +-30 % on this kind of machine, so a
    figure is the median of `--rounds` runs spread over the whole benchmark, and ratios are
    taken within a round (both sides under the same conditions) before the median.
    """
    workdir = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    journal = f"sqlite:///{workdir}/journal.db"
    prefix = f"ivr-bench-{uuid.uuid4().hex[:8]}:"
    print(describe())
    print(
        f"webhook benchmark: {args.rounds} rounds x {args.seconds:g} s per figure, "
        f"{args.concurrency} callers, server on core 0, load on core 1 "
        f"(cpus: {os.cpu_count()}); directory in memory; medians over rounds [min..max]"
    )
    chosen = {key.strip() for key in (args.only or "sentinel,cluster").split(",")}
    topologies = contextlib.ExitStack()
    if "sentinel" in chosen:
        args.sentinel_url = _pinned_topology(topologies.enter_context(local_redis.sentinel_set()))
    if "cluster" in chosen:
        args.cluster_url = _pinned_topology(topologies.enter_context(local_redis.cluster()))
    setups = _chosen(_setups(args, journal, prefix), args.only)
    runs: dict[str, list[dict[str, Any]]] = {setup.label: [] for setup in setups}
    latencies: list[dict[str, Any]] = []
    rng = random.Random(args.seed)
    services: contextlib.AbstractContextManager[list[int]] = (
        contextlib.nullcontext([]) if args.services_anywhere else services_on(LOAD_CORE)
    )
    try:
        with services as moved:
            if moved:
                print(
                    f"PostgreSQL and Redis on core {LOAD_CORE} for the run ({len(moved)} threads)"
                )
            for _ in range(args.rounds):
                for setup in rng.sample(setups, len(setups)):
                    loads = list(setup.loads)
                    before = _stored(setup.journal)
                    results = _measure(setup.server, setup.ready, loads, args, workdir)
                    after = _stored(setup.journal)  # the server has exited: all is written
                    results[0]["stored"] = [n - m for n, m in zip(after, before, strict=True)]
                    runs[setup.label].append(results[0])
                    latencies.extend(results[1:])
    finally:
        topologies.close()
        asyncio.run(drop_schema(args.pg))
        _delete_prefix(prefix)
        shutil.rmtree(workdir, ignore_errors=True)
    _report(runs, latencies)


def _pinned_topology(topology: local_redis.Topology) -> str:
    """The topology's processes on the load's core (as the local Redis is), and its URL."""
    for node in topology.nodes:
        if node.process is not None and (os.cpu_count() or 1) > 1:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(node.process.pid, {LOAD_CORE})
    url: str = getattr(topology, "url")  # noqa: B009 (every topology here has one)
    return url


def _report(runs: dict[str, list[dict[str, Any]]], latencies: list[dict[str, Any]]) -> None:
    print(f"  {'':30}  {'events/s':>17}  {'server CPU/event':>19}  {'= events/s/core':>15}")
    for label, results in runs.items():
        rates = [r["events"] / r["seconds"] for r in results]
        cpus = [_server_cpu(r) * 1e6 for r in results]
        errors = sum(r["errors"] for r in results)
        loads = statistics.median(r["client_cpu_s"] / max(r["events"], 1) * 1e6 for r in results)
        print(
            f"  {label:30}: {_median_range(rates, '.0f'):>17}  {_median_range(cpus, '.0f'):>16} µs"
            f"  {1e6 / statistics.median(cpus):15.0f}  (errors {errors}; load {loads:.0f} µs/event)"
        )
    memory = runs[MEMORY]
    for label in (REDIS, REDIS_PY, SENTINEL, CLUSTER):
        if label in runs:
            pairs = list(zip(runs[label], memory, strict=True))
            ratios = [_server_cpu(r) / _server_cpu(m) for r, m in pairs]
            print(
                f"  {label + ' / in-memory':30}: server CPU/event x{_median_range(ratios, '.2f')}"
                " (target <= 1.5)"
            )
    journals = ((SQLITE_JOURNAL, MEMORY, "SQLite"), (PG_JOURNAL, MEMORY, "PostgreSQL"))
    for label, base, name in (*journals, (REDIS_JOURNAL, REDIS, "Redis: SQLite + bus")):
        if label not in runs or base not in runs:
            continue
        pairs = list(zip(runs[label], runs[base], strict=True))
        lost = [100 * (1 - _rate(j) / _rate(m)) for j, m in pairs]
        more = [100 * (_server_cpu(j) / _server_cpu(m) - 1) for j, m in pairs]
        print(
            f"  {name + ' journal costs':30}: {_median_range(lost, '.1f')} % of the event rate, "
            f"server CPU/event {_median_range(more, '+.1f')} % (target < 15 %)"
        )
    for label in (SQLITE_JOURNAL, PG_JOURNAL, REDIS_JOURNAL):
        if label in runs:
            _report_stored(label, runs[label])
    if BARE in runs:
        _report_ratio(memory, runs[BARE])
    if latencies:
        _report_latency(latencies)


def _report_ratio(memory: list[dict[str, Any]], bare: list[dict[str, Any]]) -> None:
    ratios = [_rate(m) / _rate(b) for m, b in zip(memory, bare, strict=True)]
    by_cpu = [_server_cpu(b) / _server_cpu(m) for m, b in zip(memory, bare, strict=True)]
    print(
        f"  {'ratio in-memory / bare':30}: {_median_range(ratios, '.2f')}  "
        f"(by CPU per event: {_median_range(by_cpu, '.2f')})"
    )


def _report_latency(latencies: list[dict[str, Any]]) -> None:
    p50 = [lat["p50_ms"] for lat in latencies]
    p99 = [lat["p99_ms"] for lat in latencies]
    offered = latencies[0]["offered_per_s"]
    print(
        f"  open loop, {offered:.0f} events/s offered: p50 {_median_range(p50, '.2f')} ms, "
        f"p99 {_median_range(p99, '.2f')} ms, max {max(lat['max_ms'] for lat in latencies):.1f} ms"
        f" (errors {sum(lat['errors'] for lat in latencies)})"
    )


def _stored(journal: str | None) -> tuple[int, int, int]:
    """Records, calls and ended calls in a journal so far (zeros without one)."""
    if journal is None:
        return 0, 0, 0
    queries = (
        "SELECT COUNT(*) FROM records",
        "SELECT COUNT(*) FROM calls",
        "SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL",
    )
    if journal.startswith("sqlite:///"):
        path = journal.removeprefix("sqlite:///")
        if not Path(path).exists():
            return 0, 0, 0
        with contextlib.closing(sqlite3.connect(path)) as db:
            counts = [db.execute(query).fetchone()[0] for query in queries]
        return counts[0], counts[1], counts[2]

    async def count() -> tuple[int, int, int]:
        dsn, schema = split_url(journal)
        connection = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        try:
            if not await connection.fetchval("SELECT to_regclass('calls') IS NOT NULL"):
                return 0, 0, 0
            counts = [int(await connection.fetchval(query)) for query in queries]
            return counts[0], counts[1], counts[2]
        finally:
            await connection.close()

    return asyncio.run(count())


def _report_stored(label: str, results: list[dict[str, Any]]) -> None:
    """What the journal wrote while the server served: records per second of the run, and
    whether every call the load started was stored (and ended, but for those cut off by the
    end of the run)."""
    rates = [r["stored"][0] / r["seconds"] for r in results]
    started = sum((r["events"] + r["warmup_events"] + 2) // 3 for r in results)
    calls = sum(r["stored"][1] for r in results)
    ended = sum(r["stored"][2] for r in results)
    print(
        f"  {label + ' wrote':30}: {_median_range(rates, ',.0f')} records/s while serving;"
        f" {calls:,} calls stored of ~{started:,} started, {ended:,} ended"
    )


def _rate(result: dict[str, Any]) -> float:
    return float(result["events"]) / float(result["seconds"])


def _median_range(values: list[float], spec: str) -> str:
    """'1912 [1700..1950]': the median and the extremes of the rounds."""
    low, high = min(values), max(values)
    return f"{statistics.median(values):{spec}} [{low:{spec}}..{high:{spec}}]"


def _server_cpu(result: dict[str, Any]) -> float:
    """Server CPU per event; the warm-up calls are in the server's CPU time, so they count."""
    events: int = result["events"] + result["warmup_events"]
    cpu: float = result["server_cpu_s"]
    return cpu / max(events, 1)


def _delete_prefix(prefix: str) -> None:
    from redis import Redis

    with Redis.from_url(REDIS_URL) as client:
        for key in list(client.scan_iter(match=f"{prefix}*")):
            client.delete(key)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per figure and round")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every figure (medians)")
    parser.add_argument("--seed", type=int, default=None, help="order of the setups per round")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop callers")
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop events/s")
    parser.add_argument(
        "--role", choices=["orchestrate", "closed", "open", "bare", "server"], default="orchestrate"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--journal", default="none", help="(role server) journal URL")
    parser.add_argument(
        "--pg",
        default=f"postgresql://postgres@127.0.0.1:5432/test?schema=ivr_webhooks_{os.getpid()}",
        help="PostgreSQL journal for the journalled figure (a schema dropped afterwards)",
    )
    parser.add_argument("--redis", default=None, help="(role server) Redis URL")
    parser.add_argument("--redis-prefix", default="ivr-bench:")
    parser.add_argument("--redis-client", default="auto", help="(role server) auto, resp, redis-py")
    parser.add_argument(
        "--sqlite-directory", action="store_true", help="also measure with the SQLite directory"
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated setups: memory, bare, redis, redis-py, sentinel, cluster,"
        " sqlite-journal, pg-journal, redis-journal, sqlite-directory (in-memory state is always"
        " run: the others are compared with it)",
    )
    parser.add_argument(
        "--services-anywhere",
        action="store_true",
        help="leave PostgreSQL and Redis where the scheduler puts them (default: on the load core)",
    )
    args = parser.parse_args(argv)
    args.sentinel_url = args.cluster_url = None
    if args.role == "bare":
        bare_server(args.port)
    elif args.role == "server":
        journal = None if args.journal == "none" else args.journal
        dict_server(args.port, journal, args.redis, args.redis_prefix, args.redis_client)
    elif args.role == "closed":
        calls = _calls(args.port)
        print(json.dumps(asyncio.run(closed_loop(calls, args.seconds, args.concurrency))))
    elif args.role == "open":
        print(json.dumps(asyncio.run(open_loop(_calls(args.port), args.seconds, args.rate))))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
