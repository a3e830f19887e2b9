"""A real aiohttp server on loopback playing a payment processor (the contract in
docs/payment-processor-contract.md), with switchable answers: approve, decline, hang,
garbage, a 5xx, or a refused token."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "processor-token-7"


class LoopbackProcessor:
    def __init__(self) -> None:
        self.mode = "approve"  # approve | decline | hang | garbage | fail | no_reference
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.charges: dict[str, dict[str, Any]] = {}
        self.healthy = True

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/tokens", self._tokens)
        app.router.add_post("/charges", self._charges)
        app.router.add_get("/health", self._health)
        return app

    async def _authorised(self, request: web.Request) -> dict[str, Any]:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized()
        body: dict[str, Any] = await request.json()
        self.requests.append((request.path, dict(request.headers), body))
        if self.mode == "hang":
            await asyncio.sleep(30)
        return body

    async def _tokens(self, request: web.Request) -> web.StreamResponse:
        body = await self._authorised(request)
        if self.mode == "garbage":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if self.mode == "fail":
            return web.json_response({"error": "internal"}, status=503)
        card = body["card"]
        assert set(card) >= {"number", "expiry_month", "expiry_year", "cvv"}
        return web.json_response({"token": "tok_" + secrets.token_hex(8)}, status=201)

    async def _charges(self, request: web.Request) -> web.StreamResponse:
        body = await self._authorised(request)
        key = request.headers["Idempotency-Key"]
        if key in self.charges:
            return web.json_response(self.charges[key])
        if self.mode == "no_reference":
            return web.json_response({"status": "approved"})
        answer: dict[str, Any] = {"reference": "ch_" + secrets.token_hex(6), "status": "approved"}
        if self.mode == "decline":
            answer |= {"status": "declined", "decline_code": "do_not_honour"}
        answer["amount_minor"] = body["amount_minor"]
        self.charges[key] = answer
        return web.json_response(answer, status=201)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": self.healthy}, status=200 if self.healthy else 503)


@asynccontextmanager
async def serving(processor: LoopbackProcessor) -> AsyncIterator[str]:
    server = TestServer(processor.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
