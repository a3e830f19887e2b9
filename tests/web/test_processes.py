"""Real server processes: two workers sharing calls through Redis, hot reload (admin
endpoint and SIGHUP) keeping running calls on their version, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.sessions.conftest import REDIS_URL, delete_keys
from tests.web.conftest import ALICE, CARDS_LINE, DEMO_LINE, ROOT
from tests.web.servers import ADMIN_KEY, HttpCaller, Server

REPORTS_KEY = "test-reports-key"


@pytest.fixture
def workdir(tmp_path: Path, demo_db: str) -> Path:
    for folder in ("flows", "config", "prompts"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def _args(workdir: Path, demo_db: str, *extra: str) -> list[str]:
    return ["--db", demo_db, "--journal", "none", *extra]


async def test_two_workers_share_calls_through_redis(
    workdir: Path, demo_db: str, servers: list[Server], session: aiohttp.ClientSession
) -> None:
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    args = _args(workdir, demo_db, "--redis", REDIS_URL, "--redis-prefix", prefix)
    servers += [Server(args, workdir), Server(args, workdir)]
    await asyncio.gather(*(server.ready() for server in servers))
    a, b = servers
    try:
        verified = HttpCaller(session, f"v-{uuid.uuid4().hex}")
        locked_out = HttpCaller(session, f"w-{uuid.uuid4().hex}")
        by_account = HttpCaller(session, f"n-{uuid.uuid4().hex}")
        await verified.send(a, "call.started", ani=ALICE, dnis=DEMO_LINE)
        await locked_out.send(b, "call.started", ani=None, dnis=CARDS_LINE)
        await by_account.send(a, "call.started", ani=None, dnis=CARDS_LINE)
        wrong = await verified.send(b, "digits", digits="11111111#")
        assert wrong["call"]["attempts"] == {"date_of_birth": 2}
        done = await verified.send(a, "digits", digits="01021980#")
        assert done["call"]["idv_status"] == "identified_and_verified"
        assert [x["kind"] for x in done["actions"] if x["type"] == "transfer"] == ["self_service"]
        for server in (a, b, a):
            answer = await locked_out.send(server, "digits", digits="00000000#")
        assert answer["call"]["idv_status"] == "not_identified"
        assert answer["actions"][-1]["kind"] == "agent"
        await by_account.send(b, "digits", digits="23456789#")
        await by_account.send(a, "digits", digits="15071975#")
        last = await by_account.send(b, "hangup")
        assert last["call"]["customer_id"] == "C1002"
        assert last["call"]["ended"] is True
    finally:
        await delete_keys(prefix)


async def _live(session: aiohttp.ClientSession, server: Server, path: str) -> Any:
    headers = {"Authorization": f"Bearer {REPORTS_KEY}"}
    async with session.get(f"{server.url}{path}", headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _settled(
    session: aiohttp.ClientSession, servers: list[Server], path: str, want: Callable[[Any], bool]
) -> list[Any]:
    """What each server shows at `path` once every one shows what `want` accepts (the live bus
    carries records between them within milliseconds; a few seconds is the limit)."""
    for _ in range(300):
        seen = [await _live(session, server, path) for server in servers]
        if all(want(view) for view in seen):
            return seen
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path}: {seen}")


async def test_every_worker_shows_every_call_whole(
    workdir: Path,
    demo_db: str,
    servers: list[Server],
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Workers sharing calls through Redis share the live view too: /calls/{id}, /calls/active
    and the pulse on either worker show the webhooks both answered."""
    monkeypatch.setenv("IVR_REPORTS_KEY", REPORTS_KEY)
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    for name in ("a", "b"):  # each its own journal: what a worker shows comes from the bus
        args = ["--db", demo_db, "--journal", f"sqlite:///{workdir}/journal-{name}.db"]
        servers.append(Server([*args, "--redis", REDIS_URL, "--redis-prefix", prefix], workdir))
    await asyncio.gather(*(server.ready() for server in servers))
    a, b = servers
    try:
        caller = HttpCaller(session, f"live-{uuid.uuid4().hex}")
        path = f"/calls/{caller.call_id}"
        headers = {"Authorization": f"Bearer {REPORTS_KEY}"}
        stream = await session.get(
            f"{b.url}/calls/stream?call_id={caller.call_id}", headers=headers
        )
        assert (await stream.content.readline()) == b": connected\n"
        await caller.send(a, "call.started", ani=ALICE, dnis=DEMO_LINE)
        async with asyncio.timeout(5):  # worker b streams what worker a answered
            line = b""
            while not line.startswith(b"data: "):
                line = await stream.content.readline()
        assert json.loads(line[6:])["kind"] == "call_started"
        stream.close()
        wrong = await caller.send(b, "digits", digits="11111111#")
        assert wrong["call"]["attempts"] == {"date_of_birth": 2}
        views = await _settled(
            session, servers, path, lambda v: any(r["kind"] == "input" for r in v["records"])
        )
        assert views[0] == views[1]
        records = views[0]["records"]
        assert [r["seq"] for r in records] == list(range(len(records)))  # none missing
        assert views[0]["active"] is True
        active = await _settled(session, servers, "/calls/active", lambda v: v["count"] == 1)
        assert active[0]["calls"] == active[1]["calls"]
        assert active[0]["calls"][0]["step"] == "date_of_birth"
        await caller.send(a, "digits", digits="01021980#")
        await caller.send(b, "hangup")
        await _settled(session, servers, "/calls/active", lambda v: v["count"] == 0)
        pulses = await _settled(session, servers, "/pulse", lambda v: v["events"] > len(records))
        assert pulses[0]["events"] == pulses[1]["events"]
    finally:
        await delete_keys(prefix)


def _set_flow(workdir: Path, version: str, max_attempts: int = 3, broken: bool = False) -> None:
    path = workdir / "flows" / "idv.yaml"
    text = (ROOT / "flows" / "idv.yaml").read_text()
    text = text.replace('version: "1"', f'version: "{version}"')
    text = text.replace("max_attempts: 3", f"max_attempts: {max_attempts}")
    if broken:
        text = text.replace("next: identify", "next: nowhere_at_all")
    path.write_text(text)


async def _reload(
    session: aiohttp.ClientSession, server: Server, key: str
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    async with session.post(f"{server.url}/admin/reload", headers=headers) as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


async def _flows(session: aiohttp.ClientSession, server: Server) -> dict[str, str]:
    async with session.get(f"{server.url}/readyz") as response:
        flows: dict[str, str] = (await response.json())["flows"]
        return flows


async def test_hot_reload_keeps_running_calls_on_their_version(
    workdir: Path, demo_db: str, servers: list[Server], session: aiohttp.ClientSession
) -> None:
    server = Server(
        _args(workdir, demo_db, "--flows", "flows", "--config", "config", "--prompts", "prompts"),
        workdir,
    )
    servers.append(server)
    await server.ready()
    old_call = HttpCaller(session, f"old-{uuid.uuid4().hex}")
    assert (await old_call.send(server, "call.started", ani=ALICE, dnis=DEMO_LINE))["call"][
        "flow_version"
    ] == "1"

    _set_flow(workdir, "2", max_attempts=1)
    status, _ = await _reload(session, server, "wrong-key")
    assert status == 403
    status, result = await _reload(session, server, ADMIN_KEY)
    assert status == 200
    assert result == {
        "ok": True,
        "errors": [],
        "flows": {
            "callback": "1",
            "cards": "1",
            "idv": "2",
            "payments": "1",
            "secure_payment": "1",
            "stepup": "1",
            "wait": "1",
        },
    }

    new_call = HttpCaller(session, f"new-{uuid.uuid4().hex}")
    await new_call.send(server, "call.started", ani=ALICE, dnis=DEMO_LINE)
    new_wrong = await new_call.send(server, "digits", digits="11111111#")
    assert new_wrong["call"]["flow_version"] == "2"
    assert new_wrong["call"]["idv_status"] == "identified_only"  # one attempt in version 2
    old_wrong = await old_call.send(server, "digits", digits="11111111#")
    assert old_wrong["call"]["flow_version"] == "1"
    assert old_wrong["actions"][-1]["type"] == "collect"  # three attempts in version 1

    _set_flow(workdir, "3", broken=True)
    status, result = await _reload(session, server, ADMIN_KEY)
    assert status == 422
    assert result["errors"]
    assert "nowhere_at_all" in " ".join(result["errors"])
    assert result["flows"] == {
        "callback": "1",
        "cards": "1",
        "idv": "2",
        "payments": "1",
        "secure_payment": "1",
        "stepup": "1",
        "wait": "1",
    }

    _set_flow(workdir, "2", max_attempts=2)  # same version, different content: refused
    status, result = await _reload(session, server, ADMIN_KEY)
    assert status == 422
    assert "without a new version" in result["errors"][0]

    _set_flow(workdir, "4")
    server.signal(signal.SIGHUP)
    reloaded = {
        "callback": "1",
        "cards": "1",
        "idv": "4",
        "payments": "1",
        "secure_payment": "1",
        "stepup": "1",
        "wait": "1",
    }
    for _ in range(100):
        if await _flows(session, server) == reloaded:
            break
        await asyncio.sleep(0.05)
    assert await _flows(session, server) == reloaded
    done = await old_call.send(server, "digits", digits="01021980#")
    assert done["call"]["flow_version"] == "1"
    assert done["call"]["idv_status"] == "identified_and_verified"


async def test_sigterm_drains_calls_in_progress_then_exits(
    workdir: Path, demo_db: str, servers: list[Server], session: aiohttp.ClientSession
) -> None:
    server = Server(_args(workdir, demo_db, "--drain-limit", "20"), workdir)
    servers.append(server)
    await server.ready()
    call = HttpCaller(session, f"d-{uuid.uuid4().hex}")
    await call.send(server, "call.started", ani=ALICE, dnis=DEMO_LINE)
    server.signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    async with session.get(f"{server.url}/readyz") as response:
        assert response.status == 503
    assert server.process.poll() is None  # still serving the call
    wrong = await call.send(server, "digits", digits="11111111#")
    assert wrong["actions"][-1]["type"] == "collect"
    done = await call.send(server, "digits", digits="01021980#")
    assert done["call"]["ended"] is True
    assert await server.exited(5.0) == 0


async def test_drain_gives_up_at_its_limit(
    workdir: Path, demo_db: str, servers: list[Server], session: aiohttp.ClientSession
) -> None:
    server = Server(_args(workdir, demo_db, "--drain-limit", "1"), workdir)
    servers.append(server)
    await server.ready()
    call = HttpCaller(session, f"l-{uuid.uuid4().hex}")
    await call.send(server, "call.started", ani=ALICE, dnis=DEMO_LINE)
    server.signal(signal.SIGTERM)
    assert await server.exited(6.0) == 0
    assert "drain limit reached" in server.log.read_text()


async def test_a_call_continues_on_a_worker_still_on_the_old_version(
    workdir: Path, demo_db: str, servers: list[Server], session: aiohttp.ClientSession
) -> None:
    """Rolling reload: worker a reloads to version 2, worker b still runs version 1. A call
    started on a (version 2) continues on b, which loads version 2 from the shared store
    (Redis) instead of sending the caller to an agent, and finishes on version 2's rules."""
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    args = _args(workdir, demo_db, "--redis", REDIS_URL, "--redis-prefix", prefix)
    servers += [Server(args, workdir), Server(args, workdir)]
    await asyncio.gather(*(server.ready() for server in servers))
    a, b = servers
    try:
        _set_flow(workdir, "2", max_attempts=1)
        status, result = await _reload(session, a, ADMIN_KEY)
        assert (status, result["flows"]["idv"]) == (200, "2")
        assert (await _flows(session, b))["idv"] == "1"  # b has not reloaded
        call = HttpCaller(session, f"roll-{uuid.uuid4().hex}")
        started = await call.send(a, "call.started", ani=ALICE, dnis=DEMO_LINE)
        assert started["call"]["flow_version"] == "2"
        wrong = await call.send(b, "digits", digits="11111111#")
        assert wrong["call"]["flow_version"] == "2"
        assert wrong["call"]["idv_status"] == "identified_only"  # version 2: one attempt
        assert wrong["call"]["ended"] is True
        metrics = await _metrics(session, b)
        assert "ivr_fallbacks_total{" not in metrics  # nobody was routed on by a fault
        assert 'ivr_flow_version_fetches_total{result="loaded"} 1.0' in metrics
    finally:
        await delete_keys(prefix)


async def _metrics(session: aiohttp.ClientSession, server: Server) -> str:
    async with session.get(f"{server.url}/metrics") as response:
        return await response.text()
