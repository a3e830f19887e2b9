"""A callback database that is down answers the app 503 with Retry-After (never a 500), and
shows in /readyz and /metrics until it answers again: SQLite made read-only, PostgreSQL cut
off behind a loopback relay."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client import REGISTRY

from bench.journal_faults import sqlite_files
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.callbacks.conftest import JWT_SECRET, KEY_1, bearer
from tests.callbacks.servers import TcpProxy
from tests.callbacks.test_serve import _settings
from tests.journal.conftest import PG_DSN

Fault = tuple[str, Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]


@pytest.fixture(params=["sqlite", "postgresql"])
async def fault(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
) -> AsyncIterator[Fault]:
    """(journal URL, break it, mend it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/journal.db"

        async def cut() -> None:
            _immutable(url, True)

        async def mend() -> None:
            _immutable(url, False)

        yield url, cut, mend
        _immutable(url, False)
        return
    real = urlsplit(PG_DSN)
    proxy = TcpProxy(real.hostname or "127.0.0.1", real.port or 5432)
    await proxy.start()
    yield (
        pg_url.replace(real.netloc, f"{real.username}@127.0.0.1:{proxy.port}"),
        proxy.stop,
        proxy.start,
    )
    await proxy.stop()


def _immutable(url: str, on: bool) -> None:
    """The database file and its WAL refuse writes (root included: chattr +i). The shared
    memory file stays writable: SQLite maps it, and a write to a mapping of an immutable file
    is a bus error, not the I/O error a full or read-only disk gives."""
    for path in sqlite_files(url)[:2]:
        if os.geteuid() != 0:
            path.chmod(0o444 if on else 0o644)
        else:
            subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)


def _unavailable(route: str) -> float:
    value = REGISTRY.get_sample_value("ivr_callback_store_unavailable_total", {"route": route})
    return value or 0.0


async def test_database_down_is_503_and_shows_in_readyz_and_metrics(
    aiohttp_client: Any, tmp_path: Path, fault: Fault
) -> None:
    url, cut, mend = fault
    base = await _settings(tmp_path, app_jwt_secret=JWT_SECRET, callback_keys=f"k1:{KEY_1}")
    settings = ServeSettings(**{**base.__dict__, "journal_url": url})
    client = await aiohttp_client(create_app(settings))
    who = bearer("C1001")
    route = "PUT /customers/me/secret"
    put = await client.put("/customers/me/secret", json={"secret": "blue moon"}, headers=who)
    assert put.status == 200
    ready = await (await client.get("/readyz")).json()
    assert ready["dependencies"]["callbacks"] == {"state": "ok"}
    before = _unavailable(route)
    await cut()
    try:
        refused = await client.put(
            "/customers/me/secret", json={"secret": "blue moon"}, headers=who
        )
        assert refused.status == 503
        assert refused.headers["Retry-After"].isdigit()
        problem = await refused.json()
        assert "blue moon" not in str(problem)
        ready = await (await client.get("/readyz")).json()
        assert ready["status"] == "degraded"
        callbacks = ready["dependencies"]["callbacks"]
        assert callbacks["state"] == "down"
        assert "blue moon" not in str(callbacks)
        assert _unavailable(route) == before + 1
        assert REGISTRY.get_sample_value("ivr_callback_store_up") == 0
        metrics = await (await client.get("/metrics")).text()
        assert 'ivr_callback_store_unavailable_total{route="PUT /customers/me/secret"}' in metrics
    finally:
        await mend()
    deadline = time.monotonic() + 20
    while True:  # the PostgreSQL pool reconnects on its own
        again = await client.put("/customers/me/secret", json={"secret": "blue"}, headers=who)
        if again.status == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert again.status == 200
    ready = await (await client.get("/readyz")).json()
    assert ready["dependencies"]["callbacks"] == {"state": "ok"}
    assert REGISTRY.get_sample_value("ivr_callback_store_up") == 1


@pytest.fixture(params=["sqlite-read-only", "sqlite-removed", "postgresql"])
async def silent_fault(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
) -> AsyncIterator[Fault]:
    """(journal URL, break it, mend it), broken while no request is made."""
    if request.param == "postgresql":
        real = urlsplit(PG_DSN)
        proxy = TcpProxy(real.hostname or "127.0.0.1", real.port or 5432)
        await proxy.start()
        yield (
            pg_url.replace(real.netloc, f"{real.username}@127.0.0.1:{proxy.port}"),
            proxy.stop,
            proxy.start,
        )
        await proxy.stop()
        return
    url = f"sqlite:///{tmp_path}/journal.db"
    if request.param == "sqlite-read-only":

        async def cut() -> None:
            _immutable(url, True)

        async def mend() -> None:
            _immutable(url, False)

        yield url, cut, mend
        _immutable(url, False)
        return
    files = sqlite_files(url)
    away = tmp_path / "away"

    async def remove() -> None:  # as a mistaken clean-up would: the files leave their path
        away.mkdir()
        for path in files:
            if path.exists():
                path.rename(away / path.name)

    async def restore() -> None:
        for path in files:
            if (away / path.name).exists():
                (away / path.name).rename(path)

    yield url, remove, restore


def _exists(path: Path) -> bool:
    return path.exists()


async def _until(check: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_probe_shows_a_dead_database_before_any_request_and_its_recovery(
    aiohttp_client: Any, tmp_path: Path, silent_fault: Fault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_CALLBACK_PROBE_INTERVAL_S", "0.2")
    monkeypatch.setenv("IVR_CALLBACK_PROBE_TIMEOUT_S", "1")
    url, cut, mend = silent_fault
    base = await _settings(tmp_path, app_jwt_secret=JWT_SECRET, callback_keys=f"k1:{KEY_1}")
    settings = ServeSettings(**{**base.__dict__, "journal_url": url})
    client = await aiohttp_client(create_app(settings))
    who = bearer("C1001")
    put = await client.put("/customers/me/secret", json={"secret": "blue moon"}, headers=who)
    assert put.status == 200
    route = "PUT /customers/me/secret"
    before = _unavailable(route)

    async def callbacks_state() -> Any:
        return (await (await client.get("/readyz")).json())["dependencies"]["callbacks"]

    async def down() -> bool:
        return bool((await callbacks_state())["state"] == "down")

    async def ok() -> bool:
        return bool(await callbacks_state() == {"state": "ok"})

    assert await ok()
    await cut()
    try:
        # no request of the app's is made: the probe alone finds the database gone
        assert await _until(down, 5), await callbacks_state()
        assert REGISTRY.get_sample_value("ivr_callback_store_up") == 0
        ready = await (await client.get("/readyz")).json()
        assert ready["status"] == "degraded"
        assert _unavailable(route) == before  # nobody was refused to find it out
    finally:
        await mend()

    async def kept() -> bool:  # the database put back is the one answering (its data there)
        again = await client.get("/customers/me/secret", headers=who)
        return again.status == 200 and (await again.json())["has_standing_secret"] is True

    assert await _until(ok, 20), await callbacks_state()  # no request needed to see it back
    assert await _until(kept, 20), await callbacks_state()
    assert await ok()
    assert REGISTRY.get_sample_value("ivr_callback_store_up") == 1
