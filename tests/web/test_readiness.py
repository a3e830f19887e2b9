"""/readyz names each dependency's state and goes "degraded" (200, still serving) while the
journal spools; /metrics shows the spool; every journal record of the calls served is stored
once the store is back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bench.journal_faults import set_read_only
from ivr.journal.store import open_store
from ivr.limits.counters import RedisCounters
from ivr.settings import Settings
from ivr.web.keys import GUARD
from tests.web.conftest import Caller, MakeClient


async def ready(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    body: dict[str, Any] = await response.json()
    return response.status, body


async def until_state(client: TestClient[Any, Any], status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        code, body = await ready(client)
        if body["status"] == status:
            assert code == 200
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


async def whole_call(client: TestClient[Any, Any]) -> None:
    caller = Caller(client)
    await caller.start()
    await caller.press("01021980#")
    await caller.send("hangup")


async def test_readyz_names_every_dependency(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(
        journal_url=f"sqlite:///{tmp_path}/j.db",
        env=Settings.defaults().model_copy(update={"journal_spool_dir": tmp_path / "spool"}),
    )
    code, body = await ready(client)
    assert code == 200
    assert body["status"] == "ready"
    deps = body["dependencies"]
    assert deps["session_store"]["state"] == "ok"
    assert deps["directory"] == {"state": "ok"}
    assert deps["journal"]["state"] == "ok"
    assert deps["journal"]["pending_records"] == 0


async def test_a_spooling_journal_is_degraded_not_down(
    make_client: MakeClient, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/j.db"
    client = await make_client(
        journal_url=url,
        env=Settings.defaults().model_copy(update={"journal_spool_dir": tmp_path / "spool"}),
    )
    await whole_call(client)
    set_read_only(url, True)
    try:
        for _ in range(5):
            await whole_call(client)  # callers are served all along
        body = await until_state(client, "degraded")
        journal = body["dependencies"]["journal"]
        assert journal["state"] == "spooling"
        await until_spooled(client)
        metrics = await (await client.get("/metrics")).text()
        assert "ivr_journal_spool_records " in metrics
        assert "ivr_journal_records_spooled_total" in metrics
    finally:
        set_read_only(url, False)
    await whole_call(client)
    body = await until_state(client, "ready")
    assert body["dependencies"]["journal"]["spooled_records"] == 0
    await client.close()
    store = await open_store(url)
    try:
        rows = await store.fetch(
            "SELECT COUNT(*), COALESCE(SUM(ended_at IS NOT NULL), 0) FROM calls", {}
        )
    finally:
        await store.close()
    assert rows == [(7, 7)]  # every call, start to end


async def until_spooled(client: TestClient[Any, Any]) -> None:
    deadline = time.monotonic() + 20
    while True:
        _, body = await ready(client)
        journal = body["dependencies"]["journal"]
        if journal["spooled_records"] > 0 and journal["pending_records"] == 0:
            return
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


async def test_records_dropped_over_the_spool_cap_show_in_readyz_and_metrics(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """Store down and more waiting than the spool's cap: what is dropped is counted in
    /readyz (still degraded, not down) and /metrics, not only in a log line."""
    url = f"sqlite:///{tmp_path}/j.db"
    env = Settings.defaults().model_copy(
        update={"journal_spool_dir": tmp_path / "spool", "journal_spool_max_bytes": 2000}
    )
    client = await make_client(journal_url=url, env=env)
    await whole_call(client)
    set_read_only(url, True)
    try:
        deadline = time.monotonic() + 20
        while True:
            await whole_call(client)
            code, body = await ready(client)
            journal = body["dependencies"]["journal"]
            if journal["spool_dropped_records"] > 0:
                break
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.1)
        assert (code, body["status"]) == (200, "degraded")
        assert journal["spooled_bytes"] <= 2000
        metrics = await (await client.get("/metrics")).text()
        (line,) = [
            m
            for m in metrics.splitlines()
            if m.startswith("ivr_journal_spool_dropped_records_total")
        ]
        assert float(line.split()[-1]) >= journal["spool_dropped_records"]
    finally:
        set_read_only(url, False)
    await client.close()


async def test_limits_failing_open_are_degraded_in_readyz(make_client: MakeClient) -> None:
    """The rate limits' counters unreachable while the session store works: calls go on
    unlimited, and /readyz says so (degraded, 200) instead of "ready"; /metrics counts it."""
    client = await make_client()
    guard = client.server.app[GUARD]
    working = guard.counters
    guard.counters = RedisCounters.from_url("redis://127.0.0.1:1/0", "nowhere:")
    guard.probe_every_s = 0
    try:
        code, body = await ready(client)
        assert (code, body["status"]) == (200, "degraded")
        assert body["dependencies"]["limits"]["state"] == "down"
        await whole_call(client)  # still served
        metrics = await (await client.get("/metrics")).text()
        (line,) = [m for m in metrics.splitlines() if m.startswith("ivr_limits_unavailable_total")]
        assert float(line.split()[-1]) > 0
    finally:
        await guard.counters.close()
        guard.counters = working
    code, body = await ready(client)
    assert (code, body["status"], body["dependencies"]["limits"]) == (200, "ready", {"state": "ok"})


async def test_a_spool_directory_others_can_write_is_refused_and_shown(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """The worker will not replay files from a directory anyone can write to: it runs without a
    spool, and /readyz says so (degraded) instead of "ready"."""
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o777)
    client = await make_client(
        journal_url=f"sqlite:///{tmp_path}/j.db",
        env=Settings.defaults().model_copy(update={"journal_spool_dir": spool}),
    )
    await whole_call(client)
    code, body = await ready(client)
    journal = body["dependencies"]["journal"]
    assert (code, body["status"], journal["state"]) == (200, "degraded", "no_spool")
    assert "writable by others" in journal["spool_refused"]
