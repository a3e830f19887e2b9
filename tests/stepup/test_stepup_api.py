"""The step-up API through the real server on loopback: the agent starts a challenge for a
call, the customer answers in the app, the agent desktop gets a signed webhook and a token it
can spend once; unsigned or malformed requests change nothing; a broken dependency is 503."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from ivr.adapters.json_webhook import check_signature
from ivr.bootstrap import Project
from ivr.directory.csv_import import import_file
from ivr.stepup.openapi import AnswerReply, RedeemReply, StepUpView, document
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings
from tests.stepup.provider_server import TOKEN, LoopbackProvider, free_port
from tests.web.conftest import SECRET, Caller

from .conftest import ROOT, code, settings_for

AGENT_KEY = "agent-desk-key-for-tests"
APP_SECRET = "app-jwt-secret-for-step-up-tests-0123456789"
HOOK_SECRET = "desktop-webhook-secret"
STEPUP_LINE = "+441134960005"


def app_token(customer: str) -> str:
    claims = {"sub": customer, "exp": int(time.time()) + 300}
    return jwt.encode(claims, APP_SECRET, algorithm="HS256")


class Desktop:
    """The agent desktop's webhook receiver: keeps what arrives with a valid signature."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        self.port = free_port()
        self.arrived = asyncio.Event()

    async def hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            check_signature(HOOK_SECRET, request.headers.get("X-IVR-Signature"), raw, time.time())
        except Exception:
            self.refused += 1
            return web.Response(status=401)
        self.received.append(json.loads(raw))
        self.arrived.set()
        return web.Response(status=204)


@pytest.fixture
async def desktop() -> AsyncIterator[Desktop]:
    receiver = Desktop()
    app = web.Application()
    app.router.add_post("/hooks/step-ups", receiver.hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    yield receiver
    await runner.cleanup()


async def _client(
    aiohttp_client: Any, tmp_path: Path, desktop_url: str | None, provider_url: str | None = None
) -> TestClient[Any, Any]:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    env = settings_for(
        provider_url,
        otp_provider_token=SecretStr(TOKEN),
        agent_key=SecretStr(AGENT_KEY),
        app_jwt_secret=SecretStr(APP_SECRET),
        stepup_webhook_url=desktop_url,
        stepup_webhook_secret=SecretStr(HOOK_SECRET),
    )
    settings = ServeSettings(
        project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
        prompts_build=tmp_path / "prompts-build",
        directory=str(db),
        journal_url=f"sqlite:///{tmp_path / 'journal.db'}",
        webhook_secret=SECRET,
        env=env,
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return client


def agent(key: str = AGENT_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def customer(customer_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app_token(customer_id)}"}


async def test_an_agent_step_up_for_a_call_answered_in_the_app(
    aiohttp_client: Any, tmp_path: Path, desktop: Desktop
) -> None:
    client = await _client(
        aiohttp_client, tmp_path, f"http://127.0.0.1:{desktop.port}/hooks/step-ups"
    )
    caller = Caller(client)
    await caller.start(ani="+447700900123", dnis=STEPUP_LINE)
    await caller.press("12345678#")  # identified: the call knows its customer
    started = await client.post(
        "/step-ups",
        json={"call_id": caller.call_id, "audience": "payments-backend", "reason": "transfer"},
        headers=agent(),
    )
    assert started.status == 201, await started.text()
    step_up = await started.json()
    assert step_up["customer_id"] == "C1001"
    assert step_up["status"] == "pending"
    assert started.headers["Location"] == f"/step-ups/{step_up['id']}"
    url = f"/step-ups/{step_up['id']}"
    wrong = "000000" if code(time.time()) != "000000" else "111111"
    first = await client.post(url + "/answer", json={"code": wrong}, headers=customer("C1001"))
    assert await first.json() == {
        "id": step_up["id"], "status": "pending", "result": "wrong", "tries_left": 2,
    }  # fmt: skip
    right = await client.post(
        url + "/answer", json={"code": code(time.time())}, headers=customer("C1001")
    )
    answered = await right.json()
    assert answered["status"] == "verified"
    assert "validation_token" not in answered  # the token is the agent's, not the app's
    polled = await (await client.get(url, headers=agent())).json()
    StepUpView.model_validate(polled)
    AnswerReply.model_validate(answered)
    assert polled["status"] == "verified"
    assert polled["answered_by"] == "app"
    token = polled["validation_token"]
    await asyncio.wait_for(desktop.arrived.wait(), 10)
    (hook,) = desktop.received
    assert hook["event"] == "step_up.settled"
    assert hook["step_up"]["status"] == "verified"
    assert hook["step_up"]["validation_token"] == token
    verify = "/step-ups/tokens/verify"
    other = await client.post(
        verify, json={"token": token, "audience": "agent-desktop"}, headers=agent()
    )
    assert other.status == 401
    assert (await other.json())["reason"] == "wrong audience"
    spent = await client.post(
        verify, json={"token": token, "audience": "payments-backend"}, headers=agent()
    )
    assert spent.status == 200
    assert RedeemReply.model_validate(await spent.json()).customer_id == "C1001"
    again = await client.post(
        verify, json={"token": token, "audience": "payments-backend"}, headers=agent()
    )
    assert again.status == 409
    assert "validation_token" not in await (await client.get(url, headers=agent())).json()


async def test_unsigned_or_malformed_requests_change_nothing(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, tmp_path, None)
    body = {"customer_id": "C1001"}
    assert (await client.post("/step-ups", json=body)).status == 401
    assert (await client.post("/step-ups", json=body, headers=agent("wrong"))).status == 401
    bad_json = await client.post(
        "/step-ups", data=b"{", headers={**agent(), "Content-Type": "application/json"}
    )
    assert bad_json.status == 400
    extra = await client.post("/step-ups", json={**body, "code": "1"}, headers=agent())
    assert extra.status == 422
    nobody = await client.post("/step-ups", json={}, headers=agent())
    assert nobody.status == 422
    unknown_call = await client.post("/step-ups", json={"call_id": "nope"}, headers=agent())
    assert unknown_call.status == 404
    not_enrolled = await client.post("/step-ups", json={"customer_id": "C1002"}, headers=agent())
    assert not_enrolled.status == 422
    made = await (await client.post("/step-ups", json=body, headers=agent())).json()
    url = f"/step-ups/{made['id']}"
    answer = {"code": code(time.time())}
    assert (await client.post(url + "/answer", json=answer)).status == 401
    assert (
        await client.post(url + "/answer", json=answer, headers=customer("C1002"))
    ).status == 404
    short = await client.post(url + "/answer", json={"code": "12"}, headers=customer("C1001"))
    assert short.status == 422
    assert (await client.get(url)).status == 401
    unchanged = await (await client.get(url, headers=agent())).json()
    assert unchanged["status"] == "pending"
    assert unchanged["tries"] == 0
    forged = await client.post(
        "/step-ups/tokens/verify", json={"token": "a.b.c", "audience": "agent-desktop"},
        headers=agent(),
    )  # fmt: skip
    assert forged.status == 401


async def test_a_provider_that_is_down_is_503_and_shows_in_readyz(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, tmp_path, None, f"http://127.0.0.1:{free_port()}")
    sent = await client.post(
        "/step-ups", json={"customer_id": "C1002", "method": "sent"}, headers=agent()
    )
    assert sent.status == 503
    assert (await sent.json())["detail"] == "code provider unreachable"
    ready = await (await client.get("/readyz")).json()
    assert ready["status"] == "degraded"
    assert ready["dependencies"]["otp_provider"]["state"] == "down"
    assert ready["dependencies"]["step_ups"] == {"state": "ok"}


async def test_the_served_and_committed_documents_are_the_code(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await _client(aiohttp_client, tmp_path, None)
    served = await (await client.get("/step-ups/openapi.json")).json()
    assert served == document()
    committed = json.loads((ROOT / "docs" / "step-up-openapi.json").read_text(encoding="utf-8"))
    assert committed == document(), "run: python -m ivr.stepup.openapi docs/step-up-openapi.json"
    assert set(served["paths"]) == {
        "/step-ups", "/step-ups/{id}", "/step-ups/{id}/answer", "/step-ups/tokens/verify",
        "/calls/{call_id}/secure-session",
    }  # fmt: skip


async def test_codes_pushed_for_step_ups_obey_the_resend_limit(
    aiohttp_client: Any, tmp_path: Path, provider: LoopbackProvider
) -> None:
    client = await _client(aiohttp_client, tmp_path, None, provider.url)
    body = {"customer_id": "C1002", "method": "sent"}
    for _ in range(3):  # IVR_OTP_MAX_SENDS
        assert (await client.post("/step-ups", json=body, headers=agent())).status == 201
    limited = await client.post("/step-ups", json=body, headers=agent())
    assert limited.status == 429
    assert (await limited.json())["detail"] == "resend limit reached for this customer"
    assert len(provider.codes_for("C1002")) == 3
    provider.mode = "not_enrolled"
    nothing = await client.post(
        "/step-ups", json={"customer_id": "C1005", "method": "sent"}, headers=agent()
    )
    assert nothing.status == 422
