"""Real `ivr serve` processes on loopback ports for the multi-process, reload and drain tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from ivr.adapters.json_webhook import signature
from tests.web.conftest import ROOT, SECRET

ADMIN_KEY = "test-admin-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, args: list[str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "IVR_WEBHOOK_SECRET": SECRET, "IVR_ADMIN_KEY": ADMIN_KEY}
        env["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, "-m", "ivr.cli.serve", "--port", str(self.port), *args]
        self.log = cwd / f"server-{self.port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)

    async def ready(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited:\n{self.log.read_text()}")
                try:
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"server not ready:\n{self.log.read_text()}")

    def signal(self, number: signal.Signals) -> None:
        self.process.send_signal(number)

    async def exited(self, timeout_s: float) -> int:
        try:
            return await asyncio.to_thread(self.process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError("server still running") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class HttpCaller:
    """A JSON-webhook caller for one call, over a real socket to any of several servers."""

    def __init__(self, session: aiohttp.ClientSession, call_id: str) -> None:
        self.session = session
        self.call_id = call_id
        self.n = 0

    async def send(self, server: Server, kind: str, **fields: Any) -> dict[str, Any]:
        self.n += 1
        doc = {"type": kind, "event_id": f"e{self.n}", "call_id": self.call_id, **fields}
        body = json.dumps(doc).encode()
        headers = {"X-IVR-Signature": signature(SECRET, body, int(time.time()))}
        async with self.session.post(
            f"{server.url}/json/events", data=body, headers=headers
        ) as response:
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer
