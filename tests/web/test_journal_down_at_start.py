"""A server whose journal store cannot be opened at startup still starts and takes calls: their
records are spooled, `/readyz` is degraded, pages that read the journal answer 503 with
Retry-After (never 500), and once the store can be had everything the calls wrote is in it."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from ivr.journal.store import open_store
from ivr.settings import Settings
from tests.web.conftest import Caller, MakeClient, transfer

KEY = "reports-key-for-the-journal-down-test"


@pytest.fixture
def sealed_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder where no file can be created, root included (immutable), until unsealed."""
    folder = tmp_path / "journal"
    folder.mkdir()
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


async def readyz(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get("/readyz")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def report(client: TestClient[Any, Any]) -> Any:
    return await client.get("/reports/summary", headers={"X-API-Key": KEY})


async def test_the_server_starts_and_serves_with_its_journal_store_unavailable(
    make_client: MakeClient, tmp_path: Path, sealed_dir: Path
) -> None:
    url = f"sqlite:///{sealed_dir}/journal.db"
    failures_before = REGISTRY.get_sample_value("ivr_journal_read_failures_total") or 0.0
    client = await make_client(
        journal_url=url,
        reports_key=KEY,
        env=Settings.defaults().model_copy(update={"journal_spool_dir": tmp_path / "spool"}),
    )
    caller = Caller(client)
    await caller.start()
    done = await caller.press("01021980#")
    assert transfer(done)["handoff"]["idv_status"] == "identified_and_verified"
    await caller.send("hangup")

    deadline = time.monotonic() + 20
    while (await readyz(client))["status"] != "degraded":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    unavailable = await report(client)
    assert unavailable.status == 503
    assert unavailable.headers["Retry-After"].isdigit()
    assert "journal" in (await unavailable.json())["error"]
    assert (REGISTRY.get_sample_value("ivr_journal_read_failures_total") or 0.0) > failures_before

    await asyncio.to_thread(subprocess.run, ["chattr", "-i", str(sealed_dir)], check=True)
    deadline = time.monotonic() + 30
    while (response := await report(client)).status != 200:
        assert response.status == 503
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    while (await readyz(client))["status"] != "ready":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await client.close()
    store = await open_store(url)
    try:
        rows = await store.fetch("SELECT call_id, ended_at IS NOT NULL FROM calls", {})
    finally:
        await store.close()
    assert rows == [(caller.call_id, 1)]
