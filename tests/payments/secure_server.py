"""A server for agent-assisted payment tests: `ivr serve`'s app on a loopback port with the JSON
protocol and Twilio mounted, the agent key, a journal, the agent desktop's webhook receiver
and the Twilio fake (REST redirects) beside it; and a signed JSON-protocol caller."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from ivr.adapters.json_webhook import check_signature, signature
from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.settings import Settings
from ivr.web.app import create_app
from ivr.web.keys import STORE
from ivr.web.settings import ServeSettings
from tests.callbacks.servers import free_port, serving
from tests.callbacks.twilio_fake import TwilioFake

ROOT = Path(__file__).resolve().parents[2]
AGENT_KEY = "agent-desk-key-for-secure-sessions"
WEBHOOK_SECRET = "secure-session-webhook-secret"
HOOK_SECRET = "desktop-hook-secret"
TWILIO_TOKEN = "secure-session-twilio-token"
ACCOUNT = "AC" + "5" * 32
CARDS_LINE = "+441134960001"  # account number, date of birth, then an agent
DEMO_LINE = "+441134960000"  # verified callers go to self-service
ALICE = "+447700900123"
PAID, DECLINED = "4111111111111111", "4000000000000002"


class Desktop:
    """The agent desktop's webhook receiver: keeps what arrives with a valid signature."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/hooks", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        check_signature(HOOK_SECRET, request.headers.get("X-IVR-Signature"), raw, time.time())
        self.received.append(json.loads(raw))
        self.arrived.set()
        return web.Response(status=204)


@dataclass
class Running:
    url: str
    app: web.Application
    http: aiohttp.ClientSession
    desktop: Desktop
    twilio: TwilioFake
    journal: Path
    prefix: str = ""  # the call state's Redis key prefix, when in Redis

    async def agent(
        self, method: str, call_id: str, body: Any = None, key: str | None = AGENT_KEY, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        url = f"{self.url}/calls/{call_id}/secure-session"
        async with self.http.request(method, url, json=body, headers=headers, **kw) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def state(self, call_id: str) -> dict[str, Any] | None:
        return await self.app[STORE].get(call_id)


@asynccontextmanager
async def secure_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str | None = None, prefix: str = ""
) -> AsyncIterator[Running]:
    desktop = Desktop()
    twilio = TwilioFake(ACCOUNT, TWILIO_TOKEN)
    async with serving(desktop.app) as desktop_url, serving(twilio.app) as twilio_url:
        monkeypatch.setenv("IVR_TWILIO_ACCOUNT_SID", ACCOUNT)
        monkeypatch.setenv("IVR_TWILIO_API_BASE", twilio_url)
        db = tmp_path / "directory.db"
        await import_file(ROOT / "config" / "demo-customers.csv", db)
        port = free_port()
        journal = tmp_path / "journal.db"
        settings = ServeSettings(
            project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
            prompts_build=tmp_path / "prompts-build",
            directory=str(db),
            journal_url=f"sqlite:///{journal}",
            redis_url=redis_url,
            redis_prefix=prefix or "ivr:",
            public_url=f"http://127.0.0.1:{port}",
            webhook_secret=WEBHOOK_SECRET,
            env=Settings.model_construct(
                agent_key=SecretStr(AGENT_KEY),
                twilio_auth_token=SecretStr(TWILIO_TOKEN),
                stepup_webhook_url=f"{desktop_url}/hooks",
                stepup_webhook_secret=SecretStr(HOOK_SECRET),
            ),
        )
        app = create_app(settings)
        async with serving(app, port) as url, aiohttp.ClientSession() as http:
            yield Running(url, app, http, desktop, twilio, journal, prefix)
        await twilio.settle()


class JsonCaller:
    """Signed JSON-protocol events for one call."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.call_id = f"ss-{uuid.uuid4().hex[:12]}"
        self.events = itertools.count(1)

    async def send(self, kind: str, **fields: Any) -> dict[str, Any]:
        body = json.dumps(
            {"type": kind, "event_id": f"e{next(self.events)}", "call_id": self.call_id, **fields}
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-IVR-Signature": signature(WEBHOOK_SECRET, body, int(time.time())),
        }
        url = f"{self.running.url}/json/events"
        async with self.running.http.post(url, data=body, headers=headers) as response:
            assert response.status == 200
            doc: dict[str, Any] = await response.json()
            return doc

    async def to_agent(self, verified: bool = True) -> dict[str, Any]:
        """Identified and verified on the cards line (or, not `verified`, without an account
        number: many calls naming one account would meet the rate limits), then handed to the
        agent queue."""
        await self.send("call.started", ani=ALICE, dnis=CARDS_LINE)
        if verified:
            await self.send("digits", digits="12345678#")
            done = await self.send("digits", digits="01021980#")
        else:
            done = await self.send("digits", digits="*")
        moved = transfer(done)
        assert (moved["kind"], moved["target"]) == ("agent", "general")
        assert done["call"]["ended"] is True
        return moved

    async def pay(self, card: str) -> dict[str, Any]:
        """Keys the card, expiry and code; the last answer."""
        await self.send("digits", digits=f"{card}#")
        await self.send("digits", digits="1235#")
        return await self.send("digits", digits="123#")


def transfer(doc: dict[str, Any]) -> dict[str, Any]:
    found = [a for a in doc["actions"] if a["type"] == "transfer"]
    assert found, doc
    moved: dict[str, Any] = found[-1]
    return moved


def collect(doc: dict[str, Any]) -> dict[str, Any]:
    found = [a for a in doc["actions"] if a["type"] == "collect"]
    assert found, doc
    asked: dict[str, Any] = found[-1]
    return asked
