"""A real aiohttp server on loopback playing a company's customer directory (the contract in
docs/directory-http-contract.md), with switchable misbehaviour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "remote-token-42"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RemoteDirectory:
    def __init__(self) -> None:
        self.by_phone: dict[str, list[dict[str, object]]] = {
            "+447700900123": [{"customer_id": "C1001", "name": "Alice Example"}],
            "+447700900789": [
                {"customer_id": "C1003", "name": "Carol Shared"},
                {"customer_id": "C1004", "name": "Dan Shared"},
            ],
        }
        self.by_account = {"12345678": [{"customer_id": "C1001", "name": "Alice Example"}]}
        self.answers = {
            ("C1001", "pin"): "4321",
            ("C1001", "date_of_birth"): "01021980",
            ("C1001", "security_number"): "73920461",
        }
        self.fields: list[dict[str, object]] = [
            {"name": "date_of_birth", "label": "Date of birth", "digits": {"min": 8, "max": 8}},
            {"name": "pin", "label": "PIN", "digits": {"min": 4, "max": 8}},
            {
                "name": "security_number",
                "label": "Security number",
                "digits": {"min": 8, "max": 8},
                "kind": "partial",
                "ask": 2,
            },
        ]
        self.mode = "normal"  # normal | hang | fail | malformed | echo | no_list
        self.scripted_results: list[str] = []  # verify results returned before real checks
        self.requests: list[tuple[str, str]] = []
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._misbehave])
        app.router.add_get("/customers/by-phone/{e164}", self._lookup_phone)
        app.router.add_get("/customers/by-account/{number}", self._lookup_account)
        app.router.add_post("/customers/{customer_id}/verify", self._verify)
        app.router.add_get("/fields", self._fields)
        return app

    @web.middleware
    async def _misbehave(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorised"}, status=401)
        if self.mode == "hang":
            await asyncio.wait_for(self.release.wait(), timeout=30)
        if self.mode == "fail":
            return web.json_response({"error": "boom"}, status=500)
        if self.mode == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if self.mode == "no_list":
            return web.json_response({"customer": "C1001"})
        if self.mode == "echo":
            return web.Response(status=400, text=await request.text())
        return await handler(request)

    async def _lookup_phone(self, request: web.Request) -> web.Response:
        return web.json_response({"customers": self.by_phone.get(request.match_info["e164"], [])})

    async def _lookup_account(self, request: web.Request) -> web.Response:
        found = self.by_account.get(request.match_info["number"], [])
        return web.json_response({"customers": found})

    async def _fields(self, request: web.Request) -> web.Response:
        return web.json_response({"fields": self.fields})

    async def _verify(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.scripted_results:
            return web.json_response({"result": self.scripted_results.pop(0)})
        expected = self.answers.get((request.match_info["customer_id"], body["field"]))
        positions = body.get("positions")
        if expected is not None and positions:  # a partial answer: the digits asked for
            expected = "".join(expected[p - 1] for p in positions)
        if expected is None:
            result = "not_enrolled"
        else:
            result = "verified" if body["answer"] == expected else "wrong"
        return web.json_response({"result": result})


@asynccontextmanager
async def serve(remote: RemoteDirectory) -> AsyncIterator[str]:
    server = TestServer(remote.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        remote.release.set()
        await server.close()
