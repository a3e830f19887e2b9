"""A loopback code provider speaking docs/otp-provider-contract.md, with switchable faults.

It plays the company's SMS / push gateway: it records each message it is asked to deliver
(the test reads the code from there, as the customer reads their phone) and can answer as a
broken provider would: slowly, with a 5xx, with garbage, or not at all.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "provider-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LoopbackProvider:
    mode: str = "ok"  # ok, slow, error, garbage, not_enrolled, html
    delay_s: float = 5.0
    messages: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def codes_for(self, customer_id: str) -> list[str]:
        return [str(m["code"]) for m in self.messages if m["customer_id"] == customer_id]

    async def _codes(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorised"}, status=401)
        body = await request.json()
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        if self.mode == "error":
            return web.json_response({"error": "internal"}, status=500)
        if self.mode == "garbage":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if self.mode == "not_enrolled":
            return web.json_response({"error": "not_enrolled"}, status=404)
        self.messages.append(body)
        return web.json_response({"status": "queued", "id": f"m{len(self.messages)}"}, status=202)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"}, status=500 if self.mode == "error" else 200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/codes", self._codes)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
