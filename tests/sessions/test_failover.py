"""Redis the way production runs it, faults included: real topologies on loopback ports
(Debian's redis-server and redis-sentinel), a real server, real calls.

Every call here is Alice identified by her number and verified by her date of birth: a call
"finishes on its flow" when its last answer is the flow's transfer with that status, not the
fallback "to an agent, state lost" that a store failure gives. Concurrent callers each call
from a number of their own (all Alice's): concurrent verifications of one customer from one
number are what the fair lockout counts as parallel guessing (ivr.limits.guard), and the
limits' counters live in the same Redis as the calls.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.crc import key_slot

from bench import local_redis
from ivr.bootstrap import Project
from ivr.directory.port import Customer, LookupResult, LookupStatus, VerifyStatus
from ivr.limits.counters import RedisCounters
from ivr.sessions.redis_store import RedisSessionStore
from ivr.tokens import TokenIssuer
from ivr.web.app import create_app
from ivr.web.keys import GUARD, RUNTIME
from ivr.web.settings import ServeSettings
from tests.web.conftest import ALICE, CARDS_LINE, DEMO_LINE, SECRET, Caller

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_LIMIT_S = 4.0
# Issue 12's target across a failover. Without the Sentinel handling (WAIT, +switch-master,
# the epoch) 1.3-1.8 % of these calls lost their state; with it none did in repeated runs,
# bar a rare call whose webhook ran out of deadline on a machine loaded by other work.
ON_FLOW_TARGET = 0.99
STRANGER = "+447700900555"
ALICE_LINES = "+44770090020"  # +447700900200..209: Alice's other numbers, one per caller
Serve = Callable[..., Awaitable[TestClient[Any, Any]]]


class Alice:
    """The directory: Alice in memory. (Many concurrent verifications of one customer in the
    SQLite directory lock her out now and then, whatever the session store: not this test's
    subject.)"""

    async def lookup_by_phone(self, e164: str) -> LookupResult:
        if e164 == ALICE or e164.startswith(ALICE_LINES):
            return LookupResult.found(Customer("C1001", "Alice Example"))
        return LookupResult(LookupStatus.NOT_FOUND)

    async def lookup_by_account(self, account_number: str) -> LookupResult:
        return LookupResult(LookupStatus.NOT_FOUND)

    async def verify_answer(self, customer_id: str, field: str, answer: str) -> VerifyStatus:
        return VerifyStatus.VERIFIED if answer == "01021980" else VerifyStatus.WRONG

    async def close(self) -> None:
        return None


@pytest.fixture
async def serve(aiohttp_client: Any, tmp_path: Path) -> Serve:
    """A server sharing calls through the Redis at `url` (its own key prefix)."""

    async def make(url: str, **overrides: Any) -> TestClient[Any, Any]:
        settings = ServeSettings(
            project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
            prompts_build=tmp_path / "prompts-build",
            directory=Alice(),
            journal_url=None,
            webhook_secret=SECRET,
            admin_key="test-admin-key",
            reports_key=None,
            redis_url=url,
            **{"redis_prefix": f"ivr-failover-{uuid.uuid4().hex[:8]}:", **overrides},
        )
        client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
        return client

    return make


class Timed:
    """The slowest webhook seen, and every call's last answer."""

    def __init__(self) -> None:
        self.slowest = 0.0
        self.finished: list[bool] = []

    def share_on_flow(self) -> float:
        return self.finished.count(True) / max(len(self.finished), 1)

    def summary(self) -> str:
        off = self.finished.count(False)
        return f"{off} of {len(self.finished)} calls off flow, slowest webhook {self.slowest:.2f} s"

    async def send(self, caller: Caller, kind: str, **fields: Any) -> dict[str, Any]:
        started = time.monotonic()
        doc = await caller.send(kind, **fields)
        self.slowest = max(self.slowest, time.monotonic() - started)
        return doc

    async def call(self, caller: Caller, pause_s: float = 0.05, ani: str = ALICE) -> None:
        await self.send(caller, "call.started", ani=ani, dnis=DEMO_LINE)
        await asyncio.sleep(pause_s)
        done = await self.send(caller, "digits", digits="01021980#")
        self.finished.append(on_flow(done))


def on_flow(doc: dict[str, Any]) -> bool:
    transfers = [action for action in doc["actions"] if action["type"] == "transfer"]
    return bool(transfers) and transfers[-1]["handoff"].get("idv_status") == (
        "identified_and_verified"
    )


async def calls_during(
    client: TestClient[Any, Any],
    fault: Callable[[], object],
    *,
    callers: int = 8,
    before_s: float = 0.3,
    after_s: float = 0.5,
    call_id: Callable[[], str] | None = None,
) -> Timed:
    """`callers` callers placing calls one after another while `fault()` runs in a thread."""
    timed = Timed()
    stop = asyncio.Event()

    async def keep_calling(ani: str) -> None:
        while not stop.is_set():
            await timed.call(Caller(client, call_id() if call_id else None), ani=ani)

    tasks = [asyncio.create_task(keep_calling(f"{ALICE_LINES}{n}")) for n in range(callers)]
    try:
        await asyncio.sleep(before_s)
        await asyncio.to_thread(fault)
        await asyncio.sleep(after_s)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return timed


@pytest.fixture
def sentinel_set() -> Iterator[local_redis.SentinelSet]:
    with local_redis.sentinel_set() as topology:
        yield topology


@pytest.fixture
def cluster() -> Iterator[local_redis.Cluster]:
    with local_redis.cluster() as topology:
        yield topology


@pytest.fixture
def two_servers() -> Iterator[tuple[local_redis.Node, local_redis.Node]]:
    with local_redis.standalone() as topology:
        yield topology.node, topology.server()


async def test_calls_finish_on_their_flow_across_a_sentinel_failover(
    serve: Serve, sentinel_set: local_redis.SentinelSet
) -> None:
    client = await serve(sentinel_set.url)
    old = sentinel_set.node_at(sentinel_set.current_primary())
    timed = await calls_during(client, sentinel_set.failover)
    assert old.role() == "slave"  # the old primary now refuses writes: the client moved on
    assert len(timed.finished) >= 20
    assert timed.share_on_flow() >= ON_FLOW_TARGET, timed.summary()
    assert timed.slowest <= WEBHOOK_LIMIT_S
    ready = await client.get("/readyz")
    assert ready.status == 200
    health = (await ready.json())["dependencies"]["session_store"]
    assert (health["state"], health["kind"], health["role"]) == ("ok", "sentinel", "master")


async def test_calls_finish_on_their_flow_across_a_cluster_primary_failover(
    serve: Serve, cluster: local_redis.Cluster
) -> None:
    client = await serve(cluster.url, redis_prefix="ivr-cluster:")
    victim = cluster.primary_for("anything")
    slots = _slots_of(cluster, victim)

    def on_victim() -> str:  # calls whose keys live on the primary being failed over
        while True:
            call_id = uuid.uuid4().hex
            if key_slot(f"ivr-cluster:call:{{{call_id}}}".encode()) in slots:
                return call_id

    timed = await calls_during(
        client, lambda: cluster.failover("anything"), call_id=on_victim, after_s=1.0
    )
    assert victim.role() == "slave"
    assert len(timed.finished) >= 20
    assert timed.share_on_flow() >= ON_FLOW_TARGET, timed.summary()
    assert timed.slowest <= WEBHOOK_LIMIT_S
    health = (await (await client.get("/readyz")).json())["dependencies"]["session_store"]
    assert (health["state"], health["kind"], health["role"]) == ("ok", "cluster", "master")


@pytest.mark.parametrize("topology", ["sentinel_set", "cluster"])
async def test_two_workers_share_the_rate_limits_on_sentinel_and_cluster(
    serve: Serve, request: pytest.FixtureRequest, topology: str
) -> None:
    """The limits' counters live in the same Redis as the calls, whatever its topology
    (they were per process with Sentinel and Cluster): failed identifications on two workers
    add up, and the caller is limited on both."""
    url = request.getfixturevalue(topology).url
    prefix = f"ivr-limits-{uuid.uuid4().hex[:8]}:"
    workers = [await serve(url, redis_prefix=prefix) for _ in range(2)]
    for worker in workers:
        assert isinstance(worker.app[GUARD].counters, RedisCounters)
    told = []
    for n in range(16):  # 12 failures allowed per number and hour, then limited on both
        caller = Caller(workers[n % 2])
        await caller.start(ani=STRANGER, dnis=CARDS_LINE)
        doc = await caller.press("99999999#")
        told.append(doc["call"]["idv_status"] if doc["call"]["ended"] else "asked again")
    assert told == ["asked again"] * 12 + ["not_identified"] * 4
    for worker in workers:
        assert (await (await worker.get("/readyz")).json())["dependencies"]["limits"] == {
            "state": "ok"
        }


def _slots_of(cluster: local_redis.Cluster, primary: local_redis.Node) -> set[int]:
    with primary.client() as client:
        ranges = client.execute_command("CLUSTER", "SLOTS")
    return {
        slot
        for start, end, owner, *_ in ranges
        if int(owner[1]) == primary.port
        for slot in range(int(start), int(end) + 1)
    }


@pytest.mark.parametrize("redis_client", ["resp", "redis-py"])
async def test_a_standalone_node_demoted_to_replica_shows_and_routes_callers_on(
    serve: Serve, two_servers: tuple[local_redis.Node, local_redis.Node], redis_client: str
) -> None:
    """REPLICAOF keeps the connection open and PING answering: only writes fail (READONLY).
    /readyz says so, callers go on at once (not after the whole deadline), and it heals."""
    node, other = two_servers
    client = await serve(f"redis://127.0.0.1:{node.port}/0", redis_client=redis_client)
    caller = Caller(client)
    await caller.start()
    with node.client() as raw:
        raw.execute_command("REPLICAOF", "127.0.0.1", str(other.port))
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["dependencies"]["session_store"]["state"] == "read_only"
    assert (await ready.json())["dependencies"]["session_store"]["role"] == "slave"
    timed = Timed()
    answer = await timed.send(caller, "digits", digits="01021980#")
    assert answer["actions"][-1]["handoff"]["reason"] == "state_lost"
    assert timed.slowest < 1.0
    with node.client() as raw:
        raw.execute_command("REPLICAOF", "NO", "ONE")
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["dependencies"]["session_store"]["state"] == "ok"
    healed = Timed()
    await healed.call(Caller(client))
    assert healed.finished == [True]


@pytest.mark.parametrize("redis_client", ["resp", "redis-py"])
async def test_a_frozen_redis_costs_a_webhook_at_most_4_s(
    serve: Serve, two_servers: tuple[local_redis.Node, local_redis.Node], redis_client: str
) -> None:
    node, _ = two_servers
    client = await serve(f"redis://127.0.0.1:{node.port}/0", redis_client=redis_client)
    caller = Caller(client)
    await caller.start()
    node.freeze()
    try:
        timed = Timed()
        answer, started = await asyncio.gather(
            timed.send(caller, "digits", digits="01021980#"),
            timed.send(Caller(client), "call.started", ani=ALICE, dnis=DEMO_LINE),
        )
        assert not on_flow(answer)
        assert not on_flow(started)
        assert timed.slowest <= WEBHOOK_LIMIT_S
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["dependencies"]["session_store"]["state"] == "down"
    finally:
        node.thaw()
    recovered = Timed()
    await recovered.call(Caller(client))
    assert recovered.finished == [True]


async def test_a_killed_and_restarted_redis_is_reconnected(
    serve: Serve, two_servers: tuple[local_redis.Node, local_redis.Node]
) -> None:
    node, _ = two_servers
    client = await serve(f"redis://127.0.0.1:{node.port}/0")
    before = Timed()
    await before.call(Caller(client))
    node.kill()
    down = Timed()
    answer = await down.send(Caller(client), "call.started", ani=ALICE, dnis=DEMO_LINE)
    assert answer["actions"][-1]["type"] == "transfer"  # routed on, never a 5xx
    assert down.slowest <= WEBHOOK_LIMIT_S
    node.start()
    after = Timed()
    await after.call(Caller(client))
    assert before.finished == after.finished == [True]


async def test_token_verification_answers_503_with_the_store_down(
    serve: Serve, two_servers: tuple[local_redis.Node, local_redis.Node]
) -> None:
    node, _ = two_servers
    client = await serve(f"redis://127.0.0.1:{node.port}/0")
    tokens: TokenIssuer | None = client.app[RUNTIME].engine.tokens
    assert tokens is not None
    token = tokens.issue("c1", "C1001", "identified_and_verified")
    node.kill()
    started = time.monotonic()
    response = await client.post("/idv/tokens/verify", json={"token": token})
    assert response.status == 503
    assert await response.json() == {"valid": False, "reason": "store_unavailable"}
    assert time.monotonic() - started <= WEBHOOK_LIMIT_S
    node.start()
    response = await client.post("/idv/tokens/verify", json={"token": token})
    assert response.status == 200  # never used: valid once the store can say so


async def test_one_time_token_use_survives_a_server_restart_with_redis(
    serve: Serve, two_servers: tuple[local_redis.Node, local_redis.Node]
) -> None:
    node, _ = two_servers
    url = f"redis://127.0.0.1:{node.port}/0"
    first = await serve(url, redis_prefix="ivr-restart:")
    tokens: TokenIssuer | None = first.app[RUNTIME].engine.tokens
    assert tokens is not None
    token = tokens.issue("c1", "C1001", "identified_and_verified")
    assert (await first.post("/idv/tokens/verify", json={"token": token})).status == 200
    await first.close()  # the server process ends; what it claimed lives on in Redis
    second = await serve(url, redis_prefix="ivr-restart:")
    response = await second.post("/idv/tokens/verify", json={"token": token})
    assert (response.status, await response.json()) == (409, {"valid": False, "reason": "replayed"})


async def test_the_store_contract_holds_on_sentinel_and_cluster(
    sentinel_set: local_redis.SentinelSet,
) -> None:
    store = await RedisSessionStore.open(sentinel_set.url, "contract:")
    try:
        lease = await store.acquire("c1")
        assert lease.data is None
        assert await store.commit(lease, {"a": 1}, 60)
        assert (await store.acquire("c1")).data == {"a": 1}
        assert await store.claim("jti:x", 60)
        assert not await store.claim("jti:x", 60)
        assert (await store.health()).role == "master"
    finally:
        await store.close()


def test_no_redis_process_is_left_behind() -> None:
    with local_redis.sentinel_set() as topology:
        pids = [node.process.pid for node in topology.nodes if node.process is not None]
        topology.nodes[0].freeze()  # even a frozen one
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
