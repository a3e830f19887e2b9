"""Exactly once per delivery on the gateways' own wire formats (issue 12, items 1 and 2).

A gateway may deliver any earlier webhook again (a retry, a proxy's replay, an attacker's
capture): it gets the document it first got and the call does not move. State the gateway
does not sign (jambonz's action-hook query) carries our MAC: changed, it is refused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from ivr.adapters.jambonz import JambonzAdapter
from ivr.adapters.signatures import jambonz_header
from ivr.adapters.twilio import TwilioAdapter
from ivr.web.keys import STORE

from .conftest import ServerFactory
from .server import ALICE, CARDS_LINE, JAMBONZ_SECRET, TWILIO_TOKEN


async def stored(server: TestClient[Any, Any], call_id: str) -> dict[str, Any] | None:
    data: dict[str, Any] | None = await server.app[STORE].get(call_id)
    return data


def failures(db: str) -> int:
    """Wrong answers the directory has counted towards lockout, every customer."""
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT COUNT(*) FROM failures").fetchone()
    return int(row[0])


class TwilioCall:
    """Raw Twilio webhooks, each kept as sent so it can be delivered again byte for byte."""

    def __init__(self, server: TestClient[Any, Any], sid: str) -> None:
        self.server = server
        self.form = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": "", "To": CARDS_LINE}

    async def post(self, path: str, extra: dict[str, str]) -> tuple[str, dict[str, str], str]:
        """(path, headers, form body) of the delivery, after sending it once."""
        form = {**self.form, **extra}
        url = str(self.server.make_url(path))
        headers = {
            "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
        }
        body = urlencode(form)
        await self.send(path, headers, body)
        return path, headers, body

    async def send(self, path: str, headers: dict[str, str], body: str) -> tuple[int, str]:
        response = await self.server.post(
            path,
            data=body,
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        return response.status, await response.text()

    def action(self, twiml: str) -> str:
        """The path and query of the TwiML's <Gather action>."""
        url = twiml.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        parts = urlsplit(url)
        return f"{parts.path}?{parts.query}"


async def test_twilio_attempt_1_gather_after_attempt_2_gets_its_answer(
    serve: ServerFactory, demo_db: str
) -> None:
    server = await serve(TwilioAdapter(TWILIO_TOKEN))
    call = TwilioCall(server, "CA-replay-1")
    started = await call.post("/twilio/voice", {"CallStatus": "ringing"})
    _, first = await call.send(*started)
    account = await call.post(call.action(first), {"Digits": "12345678"})
    _, asked = await call.send(*account)  # a redelivery already: the same TwiML
    attempt_1 = await call.post(call.action(asked), {"Digits": "01011999", "FinishedOnKey": "#"})
    _, answer_1 = await call.send(*attempt_1)
    assert "attempt=2" in call.action(answer_1)
    attempt_2 = await call.post(call.action(answer_1), {"Digits": "01011998", "FinishedOnKey": "#"})
    _, answer_2 = await call.send(*attempt_2)
    assert "attempt=3" in call.action(answer_2)
    before, counted = await stored(server, "CA-replay-1"), failures(demo_db)

    for delivery, answer in ((attempt_1, answer_1), (account, asked), (started, first)):
        status, again = await call.send(*delivery)
        assert (status, again) == (200, answer)
    assert await stored(server, "CA-replay-1") == before
    assert failures(demo_db) == counted  # no extra lockout failure


async def test_twilio_changed_step_or_attempt_is_refused(serve: ServerFactory) -> None:
    server = await serve(TwilioAdapter(TWILIO_TOKEN))
    call = TwilioCall(server, "CA-replay-2")
    _, first = await call.send(*await call.post("/twilio/voice", {"CallStatus": "ringing"}))
    path, headers, body = await call.post(call.action(first), {"Digits": "12345678"})
    before = await stored(server, "CA-replay-2")
    for changed in (path.replace("attempt=1", "attempt=2"), path.replace("step=", "step=x")):
        assert (await call.send(changed, headers, body))[0] == 403
    assert await stored(server, "CA-replay-2") == before


class JambonzCall:
    """Raw jambonz webhooks, each kept as sent (body and signature) to deliver again."""

    def __init__(self, server: TestClient[Any, Any], sid: str) -> None:
        self.server = server
        self.info = {"call_sid": sid, "account_sid": "acc", "direction": "inbound"}

    async def post(self, path: str, payload: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
        body = json.dumps({**self.info, **payload}, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Jambonz-Signature": jambonz_header(JAMBONZ_SECRET, int(time.time()), body),
        }
        await self.send(path, headers, body)
        return path, headers, body

    async def send(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        response = await self.server.post(path, data=body, headers=headers)
        return response.status, await response.text()

    def hook(self, document: str) -> str:
        gathers = [verb for verb in json.loads(document) if verb["verb"] == "gather"]
        parts = urlsplit(gathers[-1]["actionHook"])
        return f"{parts.path}?{parts.query}"


def digits(keys: str) -> dict[str, str]:
    return {"call_status": "in-progress", "reason": "dtmfDetected", "digits": keys}


async def test_jambonz_earlier_action_hook_gets_its_answer(
    serve: ServerFactory, demo_db: str
) -> None:
    server = await serve(JambonzAdapter([JAMBONZ_SECRET]))
    call = JambonzCall(server, "jz-replay-1")
    started = await call.post("/jambonz/call", {"from": ALICE, "to": CARDS_LINE})
    _, first = await call.send(*started)
    _, asked = await call.send(*await call.post(call.hook(first), digits("12345678")))
    attempt_1 = await call.post(call.hook(asked), digits("01011999"))
    _, answer_1 = await call.send(*attempt_1)
    attempt_2 = await call.post(call.hook(answer_1), digits("01011998"))
    _, answer_2 = await call.send(*attempt_2)
    assert answer_2 != answer_1
    before, counted = await stored(server, "jz-replay-1"), failures(demo_db)

    assert await call.send(*attempt_1) == (200, answer_1)
    assert await call.send(*started) == (200, first)
    assert await stored(server, "jz-replay-1") == before
    assert failures(demo_db) == counted


async def test_jambonz_captured_body_replayed_with_altered_step_or_attempt_changes_nothing(
    serve: ServerFactory, demo_db: str
) -> None:
    """jambonz signs the body, not the URL: our MAC in the hook's query refuses a change."""
    server = await serve(JambonzAdapter([JAMBONZ_SECRET]))
    call = JambonzCall(server, "jz-replay-2")
    _, first = await call.send(*await call.post("/jambonz/call", {"from": ALICE, "to": CARDS_LINE}))
    _, asked = await call.send(*await call.post(call.hook(first), digits("12345678")))
    path, headers, body = await call.post(call.hook(asked), digits("01011999"))  # attempt 1
    before, counted = await stored(server, "jz-replay-2"), failures(demo_db)

    route, _, query = path.partition("?")
    pairs = parse_qsl(query)
    for name, value in (("attempt", "2"), ("attempt", "1 "), ("step", "account_number")):
        changed = [(k, value if k == name else v) for k, v in pairs]
        status, _ = await call.send(f"{route}?{urlencode(changed)}", headers, body)
        assert status == 403, (name, value)
    unsigned = [(k, v) for k, v in pairs if k != "sig"]
    assert (await call.send(f"{route}?{urlencode(unsigned)}", headers, body))[0] == 403
    other_call = JambonzCall(server, "jz-replay-3")  # a MAC is bound to its own call
    moved = body.replace(b"jz-replay-2", b"jz-replay-3")
    resigned = {
        **headers,
        "Jambonz-Signature": jambonz_header(JAMBONZ_SECRET, int(time.time()), moved),
    }
    assert (await other_call.send(path, resigned, moved))[0] == 403
    assert await stored(server, "jz-replay-2") == before
    assert failures(demo_db) == counted
