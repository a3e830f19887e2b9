"""jambonz over WebSocket against two real `ivr serve` processes sharing the real Redis: a call
whose socket drops mid-call resumes on the other worker (`session:reconnect`), and every
flows/idv.test.yaml case plays with its socket dropped and resumed on the other worker before
every turn."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ivr.bootstrap import Project
from simulator.remote_jambonz_ws import JambonzWsDriver
from tests.sessions.conftest import REDIS_URL, delete_keys
from tests.web.conftest import ALICE, CARDS_LINE, DEMO_LINE, ROOT
from tests.web.servers import Server

USER, PASSWORD = "jambonz-app", "two-workers-password"
IVR = str(Path(sys.executable).with_name("ivr"))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for folder in ("flows", "config", "prompts"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    yield name
    await delete_keys(name)


@pytest.fixture
def workers(
    workdir: Path, demo_db: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[Server]]:
    monkeypatch.setenv("IVR_JAMBONZ_WS_USERNAME", USER)
    monkeypatch.setenv("IVR_JAMBONZ_WS_PASSWORD", PASSWORD)
    args = ["--db", demo_db, "--journal", "none", "--redis", REDIS_URL, "--redis-prefix", prefix]
    started = [Server(args, workdir), Server(args, workdir)]
    yield started
    for server in started:
        server.stop()


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/jambonz/ws"


async def test_a_call_dropped_mid_call_resumes_on_the_other_worker(
    workers: list[Server], workdir: Path
) -> None:
    await asyncio.gather(*(worker.ready() for worker in workers))
    a, b = workers
    project = Project(workdir / "flows", workdir / "config", workdir / "prompts")
    call = JambonzWsDriver(ws_url(a), USER, PASSWORD, project=project)
    try:
        await call.start(f"drop-{uuid.uuid4().hex}", ALICE, DEMO_LINE, "unknown")
        await call.press("11111111#")  # a wrong date of birth, answered by worker a
        a.signal(signal.SIGKILL)  # worker a dies: the socket drops without a close frame
        assert await a.exited(10.0) == -signal.SIGKILL
        resumed = await call.reconnect(ws_url(b))  # jambonz reconnects: the other worker
        assert resumed is not None
        done = await call.press("01021980#")
        assert type(done[-1]).__name__ == "Transfer"
        summary = await call.summary()
        assert summary.idv_status == "identified_and_verified"
        assert summary.customer_id == "C1001"
        assert call.reader.attempts == {"date_of_birth": 2}  # the attempt on a was kept
        await call.hang_up()
    finally:
        await call.close()
    other = JambonzWsDriver(ws_url(b), USER, PASSWORD, project=project)
    try:  # worker b goes on serving new calls too
        await other.start(f"after-{uuid.uuid4().hex}", None, CARDS_LINE, "unknown")
        assert other.reader.pending()["actionHook"].startswith("/jambonz/ws/action?step=")
    finally:
        await other.close()


async def test_a_rolling_restart_moves_the_call_to_the_other_worker(
    workers: list[Server], workdir: Path
) -> None:
    """SIGTERM: with the calls in Redis the worker drains at once and closes its sockets with
    1001 (going away); jambonz reconnects, reaches the other worker, and the call goes on."""
    await asyncio.gather(*(worker.ready() for worker in workers))
    a, b = workers
    project = Project(workdir / "flows", workdir / "config", workdir / "prompts")
    call = JambonzWsDriver(ws_url(a), USER, PASSWORD, project=project)
    try:
        await call.start(f"restart-{uuid.uuid4().hex}", None, CARDS_LINE, "unknown")
        await call.press("12345678#")
        a.signal(signal.SIGTERM)
        assert await call.closed_by_server() == 1001
        assert await a.exited(10.0) == 0
        await call.reconnect(ws_url(b))
        done = await call.press("01021980#")
        assert type(done[-1]).__name__ == "Transfer"
        assert (await call.summary()).customer_id == "C1001"
    finally:
        await call.close()


async def test_every_idv_case_plays_across_two_workers(workers: list[Server]) -> None:
    """`ivr test --url ws://a,ws://b`: before every turn the socket drops and the call resumes
    on the other worker, and every case still passes."""
    await asyncio.gather(*(worker.ready() for worker in workers))
    urls = ",".join(ws_url(worker) for worker in workers)
    env = {**os.environ, "IVR_JAMBONZ_WS_USERNAME": USER, "IVR_JAMBONZ_WS_PASSWORD": PASSWORD}
    done = await asyncio.to_thread(
        subprocess.run,
        [IVR, "test", "flows/", "--url", urls, "--protocol", "jambonz-ws"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the callback cases book a callback in a scratch database, the cards cases key partial
    # answers, some need a customer locked before the call: in process only
    assert "36 cases passed, 0 failed (75 not runnable over HTTP)" in done.stdout
    for worker in workers:  # both workers answered messages of the calls
        assert '"adapter":"jambonz-ws"' in worker.log.read_text()


async def test_with_calls_in_memory_a_draining_worker_finishes_them_on_their_socket(
    workdir: Path, demo_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a shared store only this worker knows the call: SIGTERM keeps the socket and
    the worker serves the call to its end, then exits."""
    monkeypatch.setenv("IVR_JAMBONZ_WS_USERNAME", USER)
    monkeypatch.setenv("IVR_JAMBONZ_WS_PASSWORD", PASSWORD)
    worker = Server(["--db", demo_db, "--journal", "none", "--drain-limit", "20"], workdir)
    project = Project(workdir / "flows", workdir / "config", workdir / "prompts")
    call = JambonzWsDriver(ws_url(worker), USER, PASSWORD, project=project)
    try:
        await worker.ready()
        await call.start(f"drain-{uuid.uuid4().hex}", ALICE, DEMO_LINE, "unknown")
        worker.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert worker.process.poll() is None  # still serving the call
        wrong = await call.press("11111111#")
        assert type(wrong[-1]).__name__ == "CollectDigits"
        done = await call.press("01021980#")  # routed: the call ends, so does the drain
        assert type(done[-1]).__name__ == "Transfer"
        assert await call.closed_by_server() == 1001
        assert await worker.exited(10.0) == 0
    finally:
        await call.close()
        worker.stop()
