"""End to end through the JSON protocol: the scheduler asks a loopback gateway to place the
call (`call.dial`, signed), the gateway starts it on `answer_url` with the context copied in,
the callee presses 1, and the transfer names the route and target of the queue booked into
and the language booked in speaks the prompts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from ivr.adapters.json_protocol import SIGNATURE_HEADER
from ivr.adapters.json_webhook import check_signature, signature
from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.settings import Settings
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.callbacks.conftest import JWT_SECRET, KEY_1, bearer
from tests.callbacks.servers import free_port, serving

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "test-webhook-secret"


@dataclass
class JsonCall:
    dial: dict[str, Any]
    heard: list[str] = field(default_factory=list)
    transfer: dict[str, Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class JsonGateway:
    """Places calls as asked: answers `call.dial`, then plays the call against the server."""

    def __init__(self) -> None:
        self.calls: list[JsonCall] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = web.Application()
        self.app.router.add_post("/dial", self.dial)

    async def dial(self, request: web.Request) -> web.Response:
        body = await request.read()
        check_signature(WEBHOOK_SECRET, request.headers.get(SIGNATURE_HEADER), body, time.time())
        call = JsonCall(json.loads(body))
        self.calls.append(call)
        task = asyncio.create_task(self._place(call, f"json-{len(self.calls)}"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"call_id": f"json-{len(self.calls)}"})

    async def _send(
        self, http: aiohttp.ClientSession, url: str, event: dict[str, Any]
    ) -> list[dict[str, Any]]:
        body = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(WEBHOOK_SECRET, body, int(time.time())),
        }
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            actions: list[dict[str, Any]] = (await response.json())["actions"]
            return actions

    async def _place(self, call: JsonCall, call_id: str) -> None:
        url, dial = call.dial["answer_url"], call.dial
        event: dict[str, Any] = {
            "type": "call.started", "call_id": call_id, "event_id": "e0",
            "ani": dial["from"], "dnis": dial["to"], "context": dial["context"],
        }  # fmt: skip
        try:
            async with aiohttp.ClientSession() as http:
                for number in range(1, 20):
                    actions = await self._send(http, url, event)
                    follow: dict[str, Any] = {"type": "prompt_finished"}
                    for action in actions:
                        call.heard.extend(p["text"] for p in action.get("prompts", []))
                        if action["type"] == "collect":
                            follow = {"type": "digits", "digits": "1"}
                        elif action["type"] == "transfer":
                            call.transfer = action
                            return
                        elif action["type"] == "hangup":
                            return
                    event = {**follow, "call_id": call_id, "event_id": f"e{number}"}
        finally:
            call.done.set()

    async def settle(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> AsyncIterator[tuple[str, JsonGateway]]:
    gateway = JsonGateway()
    async with serving(gateway.app) as gateway_url:
        monkeypatch.setenv("IVR_CALLBACK_GATEWAY", "json")
        monkeypatch.setenv("IVR_CALLBACK_JSON_URL", f"{gateway_url}/dial")
        db = tmp_path / "directory.db"
        await import_file(ROOT / "config" / "demo-customers.csv", db)
        port = free_port()
        settings = ServeSettings(
            project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
            prompts_build=tmp_path / "prompts-build",
            directory=str(db),
            journal_url=store_url,
            public_url=f"http://127.0.0.1:{port}",
            webhook_secret=WEBHOOK_SECRET,
            reports_key="test-reports-key",
            env=Settings.model_construct(
                app_jwt_secret=SecretStr(JWT_SECRET), callback_keys=SecretStr(f"k1:{KEY_1}")
            ),
        )
        async with serving(create_app(settings), port) as url:
            yield url, gateway
        await gateway.settle()


async def test_the_transfer_names_the_queue_booked_into_in_the_language_booked_in(
    running: tuple[str, JsonGateway],
) -> None:
    url, gateway = running
    now = datetime.now(UTC)
    window = {"start": now.isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
    body = {"number": "+447700900123", "queue": "cards", "secret": "anana", "window": window,
            "language": "cy"}  # fmt: skip
    headers = {**bearer("C1001", name="Alice Example"), "Idempotency-Key": "json-1"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/callbacks", json=body, headers=headers) as response,
    ):
        assert response.status == 201, await response.text()
    for _ in range(200):
        if gateway.calls and gateway.calls[0].done.is_set():
            break
        await asyncio.sleep(0.05)
    call = gateway.calls[0]
    assert call.transfer is not None, call.heard
    assert call.transfer["kind"] == "agent"
    assert call.transfer["route"] == "cards_agents"
    assert call.transfer["target"] == "cards"
    assert call.transfer["handoff"]["callback_queue"] == "cards"
    assert call.transfer["handoff"]["reverse_idv"] == "read_back"
    heard = " ".join(call.heard)
    assert "Helo Alice Example" in heard  # `cy` booked: the flow's cy-GB prompts
    assert "Pwyswch 1" in heard
    assert "eich gair cyfrinachol yw anana" in heard  # in the prompt's text, spoken by the gateway
