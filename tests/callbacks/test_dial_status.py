"""jambonz's call status for a callback attempt is believed only with a valid
`Jambonz-Signature` (the same check as its call webhooks): a leaked status URL alone changes
no callback."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ivr.adapters.signatures import jambonz_header
from ivr.callbacks.dial_status import status_handler
from ivr.callbacks.queues import Queues
from ivr.callbacks.store import CallbackStore
from tests.callbacks.conftest import Clock
from tests.callbacks.test_scheduler import RecordingDialer, _book, _dispatcher

SECRET = "jambonz-webhook-secret"


async def test_jambonz_status_needs_its_signature(
    aiohttp_client: Any, callback_store: CallbackStore, queues: Queues, clock: Clock
) -> None:
    callback_id = await _book(callback_store, queues, clock)
    dialer = RecordingDialer()
    dispatcher = _dispatcher(callback_store, queues, clock, dialer)
    await dispatcher.tick()
    status_url = urlsplit(dialer.requests[0].status_url)
    app = web.Application()
    handler: Any = status_handler(
        lambda: dispatcher, {"jambonz": f"new-secret,{SECRET}"}, "https://ivr.example"
    )
    app.router.add_post("/callbacks/dial-status/{gateway}", handler)
    client = await aiohttp_client(app)
    path = f"/callbacks/dial-status/jambonz?{status_url.query}"
    body = json.dumps({"call_sid": "b7d2-call", "call_status": "no-answer"}).encode()
    now = int(time.time())
    json_type = {"Content-Type": "application/json"}
    refused = [
        {},  # unsigned
        {"Jambonz-Signature": jambonz_header("another-secret", now, body)},
        {"Jambonz-Signature": jambonz_header(SECRET, now - 3600, body)},  # stale: a replay
        {"Jambonz-Signature": jambonz_header(SECRET, now, body + b" ")},  # not this body
    ]
    for headers in refused:
        answer = await client.post(path, data=body, headers={**json_type, **headers})
        assert answer.status == 403
    assert (await callback_store.get(callback_id)).status == "dialling"  # nothing changed
    signed = {"Jambonz-Signature": jambonz_header(SECRET, now, body), **json_type}
    accepted = await client.post(path, data=body, headers=signed)
    assert accepted.status == 204
    after = await callback_store.get(callback_id)
    assert after.status == "scheduled"  # no answer: retried after the delay
    assert after.attempts == 1
