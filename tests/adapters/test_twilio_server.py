"""Twilio end to end: the real server driven by the remote Twilio driver, signed as Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from ivr.adapters.twilio import TwilioAdapter
from ivr.bootstrap import Project
from ivr.engine.actions import CollectDigits, Play, RouteKind, Transfer
from simulator.remote_twilio import RemoteTwilioDriver, keys_as_twilio_sends

from .conftest import ServerFactory
from .server import ALICE, CARDS_LINE, DEMO_LINE, ROOT, TWILIO_TOKEN


@pytest.fixture
async def server(serve: ServerFactory) -> TestClient[Any, Any]:
    return await serve(TwilioAdapter(TWILIO_TOKEN))


@pytest.fixture
async def driver(server: TestClient[Any, Any]) -> AsyncIterator[RemoteTwilioDriver]:
    project = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
    remote = RemoteTwilioDriver(str(server.make_url("")), TWILIO_TOKEN, project=project)
    yield remote
    await remote.close()


def collect_of(actions: Any) -> CollectDigits:
    found = [a for a in actions if isinstance(a, CollectDigits)]
    assert found, actions
    return found[-1]


def transfer_of(actions: Any) -> Transfer:
    found = [a for a in actions if isinstance(a, Transfer)]
    assert found, actions
    return found[-1]


async def test_ani_caller_verified_goes_to_self_service(driver: RemoteTwilioDriver) -> None:
    first = await driver.start("CA-e2e-1", ALICE, DEMO_LINE, "A")
    assert isinstance(first[0], Play)
    assert first[0].prompts[0].prompt_id == "welcome"  # recorded: <Play> of a served URL
    assert first[0].prompts[0].text == "Welcome to Example Bank."
    ask = collect_of(first)
    assert (ask.step, ask.attempt, ask.max_digits, ask.term_key) == ("date_of_birth", 1, 8, "#")
    assert [p.prompt_id for p in ask.prompts] == ["ask_date_of_birth"]  # <Say> text matched back
    done = await driver.press("01021980#")
    assert isinstance(done[0], Play)
    assert done[0].prompts[0].prompt_id == "verified_thanks"  # template with the name filled in
    moved = transfer_of(done)
    assert moved.kind is RouteKind.SELF_SERVICE
    assert moved.target == "https://self-service.example.com/ivr"
    assert moved.handoff["idv_status"] == "identified_and_verified"
    assert moved.handoff["customer_id"] == "C1001"
    summary = await driver.summary()
    assert (summary.idv_status, summary.customer_id) == ("identified_and_verified", "C1001")
    assert summary.flow == "idv"
    assert summary.attempts == {"date_of_birth": 1}


async def test_account_number_then_agent_queue_with_task(driver: RemoteTwilioDriver) -> None:
    await driver.start("CA-e2e-2", None, CARDS_LINE, "unknown")
    second = await driver.press("12345678")  # numDigits=8: no terminator needed
    assert collect_of(second).step == "date_of_birth"
    wrong = await driver.press("01011999#")
    assert (collect_of(wrong).step, collect_of(wrong).attempt) == ("date_of_birth", 2)
    done = await driver.press("01021980#")
    moved = transfer_of(done)
    assert (moved.kind, moved.target) == (RouteKind.AGENT, "general")
    assert moved.handoff["idv_status"] == "identified_and_verified"
    assert (await driver.summary()).attempts == {"account_number": 1, "date_of_birth": 2}


async def test_no_input_three_times_then_agent(driver: RemoteTwilioDriver) -> None:
    await driver.start("CA-e2e-3", None, CARDS_LINE, "unknown")
    for attempt in (2, 3):
        again = await driver.no_input()
        assert collect_of(again).attempt == attempt
    done = await driver.no_input()
    assert transfer_of(done).handoff == {"idv_status": "not_identified"}
    assert (await driver.summary()).attempts == {"account_number": 3}


async def test_dont_have_key_arrives_as_a_lone_star(driver: RemoteTwilioDriver) -> None:
    await driver.start("CA-e2e-4", None, CARDS_LINE, "unknown")
    done = await driver.press("*")
    assert transfer_of(done).handoff["idv_status"] == "not_identified"


async def test_hang_up_by_status_callback(driver: RemoteTwilioDriver) -> None:
    await driver.start("CA-e2e-5", None, CARDS_LINE, "unknown")
    assert await driver.hang_up() == []
    with pytest.raises(RuntimeError):
        await driver.press("1")


def test_keys_as_twilio_sends() -> None:
    assert keys_as_twilio_sends("1234#", 8, "#") == "1234"
    assert keys_as_twilio_sends("123456789", 8, "#") == "12345678"
    assert keys_as_twilio_sends("#", 8, "#") == ""
    assert keys_as_twilio_sends("12#", None, "") == "12#"


async def signed_post(
    server: TestClient[Any, Any], path: str, form: dict[str, str], token: str = TWILIO_TOKEN
) -> tuple[int, str]:
    url = str(server.make_url(path))
    signature = RequestValidator(token).compute_signature(url, form)
    response = await server.post(path, data=form, headers={"X-Twilio-Signature": signature})
    return response.status, await response.text()


CALL = {"CallSid": "CA-raw", "From": "", "To": CARDS_LINE, "CallStatus": "ringing"}


async def test_redelivered_gather_gets_the_same_twiml(server: TestClient[Any, Any]) -> None:
    status, first = await signed_post(server, "/twilio/voice", CALL)
    assert status == 200
    action = ET.fromstring(first).find("Gather")
    assert action is not None
    path = action.get("action", "").split(str(server.make_url("")), 1)[-1]
    form = {**CALL, "CallStatus": "in-progress", "Digits": "99999999"}
    _, answer = await signed_post(server, path, form)
    _, again = await signed_post(server, path, form)
    assert answer == again
    gather = ET.fromstring(again).find("Gather")
    assert gather is not None
    assert "attempt=2" in gather.get("action", "")


async def test_unknown_call_gets_an_agent_document(server: TestClient[Any, Any]) -> None:
    status, text = await signed_post(
        server, "/twilio/gather?step=x&attempt=1", {**CALL, "CallSid": "CA-lost"}
    )
    assert status == 200
    root = ET.fromstring(text)
    assert [child.tag for child in root] == ["Enqueue"]


async def test_bad_signature_is_403_through_the_server(server: TestClient[Any, Any]) -> None:
    status, _ = await signed_post(server, "/twilio/voice", CALL, token="not-the-token")
    assert status == 403
    response = await server.post("/twilio/voice", data=CALL)
    assert response.status == 403


async def test_behind_a_proxy_with_public_url(serve: ServerFactory) -> None:
    public = "https://ivr.example.com"
    server = await serve(TwilioAdapter(TWILIO_TOKEN), public_url=public)
    remote = RemoteTwilioDriver(str(server.make_url("")), TWILIO_TOKEN, public_url=public)
    try:
        first = await remote.start("CA-proxy", None, CARDS_LINE, "unknown")
        assert collect_of(first).step == "account_number"
        second = await remote.press("12345678")  # follows the https://ivr.example.com action URL
        assert collect_of(second).step == "date_of_birth"
    finally:
        await remote.close()
    status, _ = await signed_post(server, "/twilio/voice", {**CALL, "CallSid": "CA-direct"})
    assert status == 403  # signed for the internal address, not the public one


async def test_hangup_document_ends_with_hangup(server: TestClient[Any, Any]) -> None:
    # a call that ends with a status callback before any input: later events change nothing
    await signed_post(server, "/twilio/voice", {**CALL, "CallSid": "CA-end"})
    status, text = await signed_post(
        server, "/twilio/status", {**CALL, "CallSid": "CA-end", "CallStatus": "completed"}
    )
    assert status == 200
    assert ET.fromstring(text).tag == "Response"
    _, late = await signed_post(
        server,
        "/twilio/gather?step=account_number&attempt=1",
        {**CALL, "CallSid": "CA-end", "Digits": "1"},
    )
    assert [child.tag for child in ET.fromstring(late)] == []
