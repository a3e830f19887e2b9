"""The adapter contract with bytes in and bytes out, no server: parse(kind, url, headers, body)
-> Inbound and render(actions, context) -> Document, and the edge shedding every adapter does
(issue 12, item 5): undecodable or too-deep bodies are 400, any unparseable signature is 403,
call ids with control characters or of absurd length are 400."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict
from twilio.request_validator import RequestValidator

from ivr.adapters.base import Adapter, BadRequest, Document, Unauthorized
from ivr.adapters.jambonz import JambonzAdapter
from ivr.adapters.json_webhook import JsonWebhookAdapter, signature
from ivr.adapters.signatures import jambonz_header
from ivr.adapters.twilio import TwilioAdapter
from ivr.engine.events import CallStarted, DigitsCollected, DigitsTermination

from .conftest import ServerFactory, context
from .factories import HANGUP, WELCOME, collect, play

SECRET = "contract-secret"
NOW = 1_800_000_000
BASE = "https://ivr.example.com"


def json_adapter() -> JsonWebhookAdapter:
    return JsonWebhookAdapter(SECRET, clock=lambda: NOW)


def jambonz_adapter() -> JambonzAdapter:
    return JambonzAdapter([SECRET], clock=lambda: float(NOW))


def signed_json(body: bytes, stamp: str | None = None) -> CIMultiDict[str]:
    header = signature(SECRET, body, NOW) if stamp is None else f"t={stamp},v1=00"
    return CIMultiDict({"X-IVR-Signature": header})


def signed_jambonz(body: bytes) -> CIMultiDict[str]:
    return CIMultiDict({"Jambonz-Signature": jambonz_header(SECRET, NOW, body)})


def twilio_request(form: dict[str, str], path: str = "/twilio/voice") -> tuple[str, Any, bytes]:
    url = BASE + path
    headers = CIMultiDict(
        {"X-Twilio-Signature": RequestValidator(SECRET).compute_signature(url, form)}
    )
    return url, headers, urlencode(form).encode()


def test_every_adapter_is_bytes_in_and_bytes_out() -> None:
    body = json.dumps(
        {"type": "digits", "event_id": "e2", "call_id": "c1", "digits": "1234#"}
    ).encode()
    inbound = json_adapter().parse("events", BASE + "/json/events", signed_json(body), body)
    assert inbound.event == DigitsCollected("c1", "1234#", DigitsTermination.TERM_KEY)

    form = {"CallSid": "CA1", "From": "+441134960001", "To": "+441134960000"}
    inbound = TwilioAdapter(SECRET).parse("voice", *twilio_request(form))
    assert isinstance(inbound.event, CallStarted)

    body = json.dumps({"call_sid": "jz1", "from": "+44", "to": "+45"}).encode()
    inbound = jambonz_adapter().parse("call", BASE + "/jambonz/call", signed_jambonz(body), body)
    assert inbound.event.call_id == "jz1"

    adapters: list[Adapter] = [json_adapter(), TwilioAdapter(SECRET), jambonz_adapter()]
    for adapter in adapters:
        document = adapter.render([play(WELCOME), collect(), HANGUP], context())
        assert isinstance(document, Document)
        assert isinstance(document.body, bytes)
        assert document.body
        assert "charset=utf-8" in document.content_type
        assert Document.from_stored(document.stored()) == document


def test_the_request_kind_is_given_not_read_from_the_url() -> None:
    """The route binds the kind: the same request parsed as another kind is that kind."""
    form = {"CallSid": "CA1", "CallStatus": "completed"}
    url, headers, body = twilio_request(form, "/anything/else")
    assert (
        type(TwilioAdapter(SECRET).parse("status", url, headers, body).event).__name__ == "HungUp"
    )


@pytest.mark.parametrize(
    "body",
    [b"[" * 1000, b"[" * 100_000, b'{"a":' * 5000, b"\xff\xfe", b"not json", b"[1, 2]"],
    ids=["deep-1000", "deep-100000", "deep-object", "not-utf8", "not-json", "array"],
)
def test_undecodable_or_too_deep_bodies_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        json_adapter().parse("events", BASE + "/json/events", signed_json(body), body)
    with pytest.raises(BadRequest):
        jambonz_adapter().parse("call", BASE + "/jambonz/call", signed_jambonz(body), body)


@pytest.mark.parametrize(
    "stamp", ["9" * 309, "1" * 400, "", "１２３", "1e9", "-5", str(NOW) + ".5"]
)
def test_any_unparseable_signature_timestamp_is_unauthorized(stamp: str) -> None:
    body = b'{"type": "hangup", "event_id": "e", "call_id": "c"}'
    with pytest.raises(Unauthorized):
        json_adapter().parse("events", BASE, signed_json(body, stamp), body)
    header = CIMultiDict({"Jambonz-Signature": f"t={stamp},v1=00"})
    with pytest.raises(Unauthorized):
        jambonz_adapter().parse("call", BASE, header, body)


@pytest.mark.parametrize("header", ["é" * 28, "t=1,v1=é", "\x00", " " * 10])
def test_non_ascii_or_junk_signatures_are_unauthorized(header: str) -> None:
    url, _, body = twilio_request({"CallSid": "CA1"})
    with pytest.raises(Unauthorized):
        TwilioAdapter(SECRET).parse("voice", url, CIMultiDict({"X-Twilio-Signature": header}), body)
    with pytest.raises(Unauthorized):
        jambonz_adapter().parse("call", BASE, CIMultiDict({"Jambonz-Signature": header}), body)


@pytest.mark.parametrize(
    "call_id", ["CA1\nforged", "CA1\r", "tab\there", "x" * 129, "", "sp ace", "é"]
)
def test_call_ids_of_every_gateway_are_validated(call_id: str) -> None:
    url, headers, body = twilio_request({"CallSid": call_id, "CallStatus": "completed"})
    with pytest.raises(BadRequest):
        TwilioAdapter(SECRET).parse("status", url, headers, body)
    body = json.dumps({"call_sid": call_id, "call_status": "completed"}).encode()
    with pytest.raises(BadRequest):
        jambonz_adapter().parse("status", BASE, signed_jambonz(body), body)
    body = json.dumps({"type": "hangup", "event_id": "e1", "call_id": call_id}).encode()
    with pytest.raises(BadRequest):
        json_adapter().parse("events", BASE, signed_json(body), body)


async def test_client_faults_are_warnings_and_4xx_through_the_server(
    serve: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server: TestClient[Any, Any] = await serve(JambonzAdapter([SECRET]))
    deep = b"[" * 1000
    caplog.set_level(logging.INFO)
    now = int(time.time())
    headers = {"Jambonz-Signature": jambonz_header(SECRET, now, deep)}
    assert (await server.post("/jambonz/call", data=deep, headers=headers)).status == 400
    huge = {"Jambonz-Signature": f"t={'9' * 309},v1=00"}
    assert (await server.post("/jambonz/call", data=b"{}", headers=huge)).status == 403
    newline = json.dumps({"call_sid": "a\nb", "from": "+44", "to": "+45"}).encode()
    headers = {"Jambonz-Signature": jambonz_header(SECRET, now, newline)}
    assert (await server.post("/jambonz/call", data=newline, headers=headers)).status == 400
    refused = [r for r in caplog.records if r.getMessage() == "webhook refused"]
    assert [r.levelno for r in refused] == [logging.WARNING] * 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
