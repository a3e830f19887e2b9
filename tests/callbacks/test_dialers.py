"""Each dialer against a loopback server built to its gateway's documented wire format."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp import web

from ivr.adapters.json_protocol import SIGNATURE_HEADER
from ivr.adapters.json_webhook import check_signature
from ivr.callbacks.dialers.base import DialFailed, DialRequest
from ivr.callbacks.dialers.jambonz import JambonzDialer
from ivr.callbacks.dialers.json_protocol import JsonDialer
from ivr.callbacks.dialers.twilio import TwilioDialer
from tests.callbacks.servers import serving
from tests.callbacks.twilio_fake import Callee, TwilioFake

REQUEST = DialRequest(
    "cb_0123", "+447700900123", "+441134960000",
    "https://ivr.example/x/voice?ivr_callback=cb_0123", "https://ivr.example/status", 25,
    {"ivr_callback": "cb_0123", "ivr_sig": "k1~" + "0" * 64, "ivr_flow": "callback"},
)  # fmt: skip


async def test_twilio_client_creates_the_call() -> None:
    fake = TwilioFake("AC" + "1" * 32, "token")
    fake.callees.append(Callee(answers=False))
    async with serving(fake.app) as url:
        dialer = TwilioDialer("AC" + "1" * 32, "token", url)
        sid = await dialer.dial(REQUEST)
        assert sid.startswith("CA")
        form = fake.calls[0].form
        assert form["To"] == "+447700900123"
        assert form["From"] == "+441134960000"
        assert form["Url"] == REQUEST.answer_url
        assert form["StatusCallback"] == REQUEST.status_url
        assert form["Timeout"] == "25"
        assert form["MachineDetection"] == "Enable"
        fake.refusals.append(400)
        with pytest.raises(DialFailed) as refused:
            await dialer.dial(REQUEST)
        assert not refused.value.retry
        fake.refusals.append(503)
        with pytest.raises(DialFailed) as down:
            await dialer.dial(REQUEST)
        assert down.value.retry
        wrong = TwilioDialer("AC" + "1" * 32, "not-the-token", url)
        with pytest.raises(DialFailed):
            await wrong.dial(REQUEST)
        await fake.settle()


async def test_jambonz_create_call() -> None:
    seen: list[dict[str, Any]] = []

    async def create(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer api-key":
            return web.json_response({"msg": "unauthorized"}, status=401)
        seen.append({"account": request.match_info["sid"], **await request.json()})
        return web.json_response({"sid": "b7d2-call"}, status=201)

    app = web.Application()
    app.router.add_post("/v1/Accounts/{sid}/Calls", create)
    async with serving(app) as url:
        dialer = JambonzDialer(url, "acct-1", "api-key")
        try:
            assert await dialer.dial(REQUEST) == "b7d2-call"
            body = seen[0]
            assert body["account"] == "acct-1"
            assert body["to"] == {"type": "phone", "number": "+447700900123"}
            assert body["from"] == "+441134960000"
            assert body["call_hook"] == {"url": REQUEST.answer_url, "method": "POST"}
            assert body["call_status_hook"]["url"] == REQUEST.status_url
            assert body["timeout"] == 25
            assert body["tag"] == REQUEST.context
            with pytest.raises(DialFailed):
                await JambonzDialer(url, "acct-1", "wrong").dial(REQUEST)
        finally:
            await dialer.close()


async def test_json_protocol_dial_is_signed() -> None:
    seen: list[dict[str, Any]] = []

    async def dial(request: web.Request) -> web.Response:
        body = await request.read()
        check_signature("webhook-secret", request.headers.get(SIGNATURE_HEADER), body, time.time())
        seen.append(json.loads(body))
        return web.json_response({"call_id": "gw-1"})

    app = web.Application()
    app.router.add_post("/dial", dial)
    async with serving(app) as url:
        dialer = JsonDialer(f"{url}/dial", "webhook-secret")
        try:
            assert await dialer.dial(REQUEST) == "gw-1"
            assert seen[0]["type"] == "call.dial"
            assert seen[0]["answer_url"] == REQUEST.answer_url
            assert seen[0]["context"] == REQUEST.context
            with pytest.raises(DialFailed):
                await JsonDialer(f"{url}/dial", "other-secret").dial(REQUEST)
        finally:
            await dialer.close()
