"""Issue 13: Ctrl-C on `make run` drains like SIGTERM; `ivr serve` refuses a directory that no
configured key made (unless told otherwise)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import uuid
from pathlib import Path

import aiohttp
import pytest

from ivr.cli.serve import main as serve_main
from ivr.directory.csv_import import import_file
from ivr.directory.hashing import KeyRing
from tests.web.conftest import ALICE, DEMO_LINE, ROOT
from tests.web.servers import HttpCaller, Server


def _workdir(tmp_path: Path) -> Path:
    for folder in ("flows", "config", "prompts"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


async def test_sigint_drains_calls_in_progress_then_exits(tmp_path: Path, demo_db: str) -> None:
    server = Server(
        ["--db", demo_db, "--journal", "none", "--drain-limit", "20"], _workdir(tmp_path)
    )
    try:
        await server.ready()
        async with aiohttp.ClientSession() as session:
            call = HttpCaller(session, f"i-{uuid.uuid4().hex}")
            await call.send(server, "call.started", ani=ALICE, dnis=DEMO_LINE)
            server.signal(signal.SIGINT)
            await asyncio.sleep(0.3)
            async with session.get(f"{server.url}/readyz") as response:
                assert response.status == 503
            assert server.process.poll() is None  # the call in progress is still served
            done = await call.send(server, "digits", digits="01021980#")
            assert done["call"]["ended"] is True
            assert done["call"]["idv_status"] == "identified_and_verified"
        assert await server.exited(5.0) == 0
    finally:
        server.stop()


async def test_a_second_sigint_stops_at_once(tmp_path: Path, demo_db: str) -> None:
    server = Server(
        ["--db", demo_db, "--journal", "none", "--drain-limit", "30"], _workdir(tmp_path)
    )
    try:
        await server.ready()
        async with aiohttp.ClientSession() as session:
            call = HttpCaller(session, f"j-{uuid.uuid4().hex}")
            await call.send(server, "call.started", ani=ALICE, dnis=DEMO_LINE)
        server.signal(signal.SIGINT)
        await asyncio.sleep(0.3)
        server.signal(signal.SIGINT)
        assert await server.exited(5.0) == 0
    finally:
        server.stop()


def test_serve_refuses_a_directory_no_configured_key_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "d.db"
    monkeypatch.setenv("IVR_SECRET_KEY", "the-key-it-was-made-with")
    made_with = KeyRing.of("the-key-it-was-made-with")
    asyncio.run(import_file(ROOT / "config" / "demo-customers.csv", db, keys=made_with))
    # a Redis nobody listens on: a server past the key check stops there with code 2
    args = ["--db", str(db), "--port", "0", "--journal", "none", "--redis", "redis://127.0.0.1:1/0"]
    args += ["--prompts-build", str(tmp_path / "prompts")]
    monkeypatch.setenv("IVR_SECRET_KEY", "another-key")
    assert serve_main(args) == 2
    refused = capsys.readouterr().err
    assert "no configured key made this directory's answers" in refused
    assert "--allow-key-mismatch" in refused
    assert "session store" not in refused  # refused before anything else
    # the right key among several (the new one first) passes the check
    monkeypatch.setenv("IVR_SECRET_KEY", "new-key,the-key-it-was-made-with")
    assert serve_main(args) == 2
    rotated = capsys.readouterr().err
    assert "session store" in rotated
    assert "no configured key" not in rotated
    monkeypatch.setenv("IVR_SECRET_KEY", "another-key")
    assert serve_main([*args, "--allow-key-mismatch"]) == 2
    assert "ivr serve: session store" in capsys.readouterr().err
