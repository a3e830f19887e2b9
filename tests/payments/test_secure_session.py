"""Agent-assisted payment end to end, over real HTTP on loopback: a caller verified in the IVR
is handed to an agent; the agent asks for a payment (`POST /calls/{id}/secure-session`); the
caller is brought over (at the call's next event on the JSON protocol, at once through
Twilio's REST API on Twilio), keys the card into the `secure_payment` flow, and goes back to
the same agent queue with the outcome, brand, last four and reference in the hand-off. The
agent desktop reads the result by polling and by the signed webhook; bad requests change no
call."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from ivr.bootstrap import Project
from ivr.stepup.openapi import SecureSessionView, document
from ivr.stepup.secure_sessions import SECURE_API
from simulator.remote_twilio import RemoteTwilioDriver
from tests.payments.secure_server import (
    AGENT_KEY,
    ALICE,
    CARDS_LINE,
    DECLINED,
    DEMO_LINE,
    PAID,
    ROOT,
    TWILIO_TOKEN,
    JsonCaller,
    Running,
    collect,
    secure_server,
    transfer,
)


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    async with secure_server(tmp_path, monkeypatch) as server:
        yield server


async def journal_rows(path: Path, call_id: str) -> list[tuple[Any, ...]]:
    for _ in range(100):  # the journal worker writes in the background
        connection = sqlite3.connect(path)
        try:
            rows = connection.execute(
                "SELECT kind, outcome, data FROM records WHERE call_id = ? ORDER BY seq",
                (call_id,),
            ).fetchall()
        finally:
            connection.close()
        if any('"secure_session.end"' in str(row[2]) for row in rows):
            return rows
        await asyncio.sleep(0.05)
    return rows


async def test_json_caller_pays_and_goes_back_to_the_agent_queue_with_the_result(
    running: Running,
) -> None:
    calls_ended, active = _ended_total(), REGISTRY.get_sample_value("ivr_active_calls")
    caller = JsonCaller(running)
    await caller.to_agent()
    status, started = await running.agent(
        "POST", caller.call_id, {"amount": "49.99", "currency": "GBP", "reference": "INV-1042"}
    )
    assert status == 201, started
    SecureSessionView.model_validate(started)
    assert (started["status"], started["delivery"], started["route"]) == (
        "pending",
        "next_event",
        "agent",
    )
    assert started["amount"] == "49.99"
    status, polled = await running.agent("GET", caller.call_id)
    assert (status, polled["status"]) == (200, "pending")

    # the call's next event (the desktop's telephony sends the caller back) enters the payment
    entered = await caller.send("transfer_result", result="returned")
    assert [p["id"] for p in entered["actions"][0]["prompts"]] == ["secure_payment_intro"]
    assert "49.99 GBP" in entered["actions"][0]["prompts"][0]["text"]
    asked = collect(entered)
    assert (asked["step"], asked["secure"]) == ("take_payment", True)
    assert entered["call"]["ended"] is False
    status, polled = await running.agent("GET", caller.call_id)
    assert polled["status"] == "active"

    done = await caller.pay(PAID)
    moved = transfer(done)
    assert (moved["kind"], moved["target"], moved["route"]) == ("agent", "general", "agent")
    handoff = moved["handoff"]
    assert handoff["payment_outcome"] == "paid"
    assert (handoff["card_brand"], handoff["card_last4"]) == ("visa", "1111")
    assert handoff["payment_reference"]
    assert handoff["secure_session"] == started["id"]
    assert handoff["secure_reference"] == "INV-1042"
    assert (handoff["idv_status"], handoff["customer_id"]) == ("identified_and_verified", "C1001")
    assert PAID not in json.dumps(done)

    status, polled = await running.agent("GET", caller.call_id)
    assert status == 200
    SecureSessionView.model_validate(polled)
    assert polled["status"] == "paid"
    assert polled["result"] == {
        "payment_outcome": "paid",
        "card_brand": "visa",
        "card_last4": "1111",
        "payment_reference": handoff["payment_reference"],
    }
    await asyncio.wait_for(running.desktop.arrived.wait(), 10)
    hook = running.desktop.received[0]
    assert hook["event"] == "secure_session.settled"
    assert hook["secure_session"]["result"] == polled["result"]

    # back with the agent: the agent may take a second payment
    status, again = await running.agent("POST", caller.call_id, {"amount": 5, "currency": "GBP"})
    assert (status, again["amount"]) == (201, "5.00")

    rows = await journal_rows(running.journal, caller.call_id)
    operations = [json.loads(data)["operation"] for kind, _, data in rows if kind == "operation"]
    assert "secure_session.request" in operations
    assert "secure_session.start" in operations
    assert "secure_session.end" in operations
    assert PAID not in repr(rows)
    async with running.http.get(f"{running.url}/metrics") as response:
        metrics = await response.text()
    assert 'ivr_secure_sessions_total{event="paid"}' in metrics
    assert 'ivr_secure_sessions_total{event="started"}' in metrics
    # one call, ended (to the agent) once, whatever it did in between; none left active
    assert _ended_total() == calls_ended + 1
    assert REGISTRY.get_sample_value("ivr_active_calls") == active


def _ended_total() -> float:
    family = next(f for f in REGISTRY.collect() if f.name == "ivr_calls_ended")
    return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))


@pytest.mark.parametrize(
    ("keys", "outcome", "last4"),
    [([DECLINED + "#", "1235#", "123#"], "declined", "0002"), (["*"], "cancelled", None)],
)
async def test_json_declined_and_cancelled_go_back_to_the_agent_too(
    running: Running, keys: list[str], outcome: str, last4: str | None
) -> None:
    caller = JsonCaller(running)
    await caller.to_agent()
    status, _ = await running.agent("POST", caller.call_id, {"amount": 20, "currency": "GBP"})
    assert status == 201
    await caller.send("prompt_finished")  # any event the gateway waits an answer to
    for key in keys:
        done = await caller.send("digits", digits=key)
    moved = transfer(done)
    assert (moved["kind"], moved["target"]) == ("agent", "general")
    assert moved["handoff"]["payment_outcome"] == outcome
    assert moved["handoff"].get("card_last4") == last4
    _, polled = await running.agent("GET", caller.call_id)
    assert polled["status"] == outcome


async def test_twilio_caller_is_brought_over_at_once_and_queued_again_with_the_result(
    running: Running,
) -> None:
    project = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
    driver = RemoteTwilioDriver(running.url, TWILIO_TOKEN, project=project)
    sid = "CA" + uuid.uuid4().hex
    try:
        await driver.start(sid, ALICE, CARDS_LINE, "A")
        await driver.press("12345678")
        queued = await driver.press("01021980#")
    finally:
        await driver.close()
    assert any(getattr(a, "target", None) == "general" for a in queued)
    call = running.twilio.answer_inbound(sid, ALICE, CARDS_LINE, [PAID, "1235", "123"])
    status, started = await running.agent(
        "POST", sid, {"amount": "12.50", "currency": "GBP", "description": "Arrears"}
    )
    assert status == 201, started
    assert started["delivery"] == "pushed"
    update = running.twilio.updates[0]
    session_url = f"{running.url}/twilio/gather?event=secure_session&session={started['id']}"
    assert update["Url"] == session_url
    assert update["Method"] == "POST"
    await asyncio.wait_for(call.done.wait(), 20)
    assert "<Error" not in "".join(call.documents), call.documents
    assert any("secure keypad" in heard for heard in call.heard)
    assert call.handoff is not None  # <Enqueue> again, to the same queue, with the result
    assert "<Enqueue>general<Task>" in call.documents[-1]
    assert call.handoff["payment_outcome"] == "paid"
    assert (call.handoff["card_brand"], call.handoff["card_last4"]) == ("visa", "1111")
    assert call.handoff["payment_reference"]
    assert call.handoff["secure_session"] == started["id"]
    assert PAID not in "".join(call.documents)
    status, polled = await running.agent("GET", sid)
    assert (status, polled["status"]) == (200, "paid")

    # a second payment on the same call, the same card: Twilio signs the same URLs and fields
    # again, and none of it may be taken for a redelivery of the first session
    call = running.twilio.answer_inbound(sid, ALICE, CARDS_LINE, [PAID, "1235", "123"])
    status, second = await running.agent("POST", sid, {"amount": "3.00", "currency": "GBP"})
    assert (status, second["delivery"]) == (201, "pushed")
    await asyncio.wait_for(call.done.wait(), 20)
    assert any("3.00 GBP" in heard for heard in call.heard), call.heard
    assert call.handoff is not None
    assert call.handoff["secure_session"] == second["id"]
    assert call.handoff["payment_outcome"] == "paid"
    assert call.handoff["payment_reference"] != started.get("payment_reference")
    status, polled = await running.agent("GET", sid)
    assert (status, polled["id"], polled["status"]) == (200, second["id"], "paid")


@pytest.mark.parametrize("missing", ["public_url", "redirect"])
async def test_a_twilio_call_nothing_could_bring_over_is_refused(
    running: Running, missing: str
) -> None:
    """Without the server's public URL (never taken from the request's Host header) or
    Twilio's account, nothing would bring the caller over: refused, and the call unchanged."""
    project = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
    driver = RemoteTwilioDriver(running.url, TWILIO_TOKEN, project=project)
    sid = "CA" + uuid.uuid4().hex
    try:
        await driver.start(sid, ALICE, CARDS_LINE, "A")
        await driver.press("12345678")
        await driver.press("01021980#")
    finally:
        await driver.close()
    setattr(running.app[SECURE_API], missing, None)
    before = await running.state(sid)
    status, refused = await running.agent("POST", sid, {"amount": "1.00", "currency": "GBP"})
    assert status == 409, refused
    assert "--public-url" in refused["detail"]
    assert await running.state(sid) == before
    assert running.twilio.updates == []


async def test_twilio_refusing_the_redirect_ends_the_session_as_failed(running: Running) -> None:
    project = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
    driver = RemoteTwilioDriver(running.url, TWILIO_TOKEN, project=project)
    sid = "CA" + uuid.uuid4().hex
    try:
        await driver.start(sid, ALICE, CARDS_LINE, "A")
        await driver.press("12345678")
        await driver.press("01021980#")
    finally:
        await driver.close()
    running.twilio.answer_inbound(sid, ALICE, CARDS_LINE, [])
    running.twilio.refusals.append(400)
    status, refused = await running.agent("POST", sid, {"amount": "1.00", "currency": "GBP"})
    assert status == 502, refused
    assert refused["session"]["status"] == "failed"
    assert refused["session"]["reason"] == "twilio 400 21220"
    status, polled = await running.agent("GET", sid)
    assert polled["status"] == "failed"
    status, again = await running.agent("POST", sid, {"amount": "1.00", "currency": "GBP"})
    assert (status, again["delivery"]) == (201, "pushed")  # the agent may ask again


async def test_without_the_agent_key_nothing_happens(running: Running) -> None:
    caller = JsonCaller(running)
    await caller.to_agent()
    before = await running.state(caller.call_id)
    body = {"amount": "10.00", "currency": "GBP"}
    for key in (None, "wrong-key"):
        status, refused = await running.agent("POST", caller.call_id, body, key=key)
        assert status == 401
        assert refused["status"] == 401
        status, _ = await running.agent("GET", caller.call_id, key=key)
        assert status == 401
    assert await running.state(caller.call_id) == before
    status, _ = await running.agent("GET", caller.call_id)
    assert status == 404  # no session on the call


async def test_unknown_ended_busy_and_elsewhere_calls_are_refused(running: Running) -> None:
    body = {"amount": "10.00", "currency": "GBP"}
    status, refused = await running.agent("POST", "no-such-call", body)
    assert (status, refused["detail"]) == (404, "no such call")
    assert await running.state("no-such-call") is None

    in_ivr = JsonCaller(running)
    await in_ivr.send("call.started", ani=ALICE, dnis=CARDS_LINE)
    status, refused = await running.agent("POST", in_ivr.call_id, body)
    assert status == 409
    assert "still in the IVR" in refused["detail"]

    self_service = JsonCaller(running)
    await self_service.send("call.started", ani=ALICE, dnis=DEMO_LINE)
    await self_service.send("digits", digits="01021980#")  # verified: to self-service
    status, refused = await running.agent("POST", self_service.call_id, body)
    assert status == 409
    assert "not to an agent" in refused["detail"]

    busy = JsonCaller(running)
    await busy.to_agent()
    status, _ = await running.agent("POST", busy.call_id, body)
    assert status == 201
    status, refused = await running.agent("POST", busy.call_id, body)
    assert (status, refused["detail"]) == (409, "the call is already in a secure session")

    gone = JsonCaller(running)
    await gone.to_agent()
    await gone.send("hangup")  # the caller hung up while with the agent
    status, refused = await running.agent("POST", gone.call_id, body)
    assert (status, refused["detail"]) == (409, "the call has ended")

    # a pending session whose caller hangs up ends as abandoned
    await busy.send("hangup")
    status, polled = await running.agent("GET", busy.call_id)
    assert (status, polled["status"]) == (200, "abandoned")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"amount": "10.00"}, 422),  # no currency
        ({"amount": "10.00", "currency": "gbp"}, 422),
        ({"amount": "0", "currency": "GBP"}, 422),
        ({"amount": "-5", "currency": "GBP"}, 422),
        ({"amount": "1.005", "currency": "GBP"}, 422),
        ({"amount": "ten", "currency": "GBP"}, 422),
        ({"amount": True, "currency": "GBP"}, 422),
        ({"amount": "10", "currency": "GBP", "pan": PAID}, 422),
        ({"amount": "10", "currency": "GBP", "description": f"card {PAID}"}, 422),
        ({"amount": "10", "currency": "GBP", "description": "card 4111 1111 1111 1111"}, 422),
        ({"amount": "10", "currency": "GBP", "description": "4111.1111.1111.1111"}, 422),
        ({"amount": "10", "currency": "GBP", "description": "4111/1111/1111/1111"}, 422),
        ({"amount": "10", "currency": "GBP", "description": "4111_1111_1111_1111"}, 422),
        ({"amount": "10", "currency": "GBP", "description": "4111\u20101111\u20101111"}, 422),
        ({"amount": "10", "currency": "GBP", "reference": PAID}, 422),
        ({"amount": "10", "currency": "GBP", "reference": "4111-1111-1111-1111"}, 422),
        ({"amount": "10", "currency": "GBP", "reference": "bad reference!"}, 422),
        ({"amount": "10", "currency": "GBP", "route": "no_such_route"}, 422),
        ({"amount": "10", "currency": "GBP", "route": "self_service"}, 422),
        ([1, 2], 422),
    ],
)
async def test_a_bad_body_changes_no_call(running: Running, body: Any, status: int) -> None:
    caller = JsonCaller(running)
    await caller.to_agent()
    before = await running.state(caller.call_id)
    answered, refused = await running.agent("POST", caller.call_id, body)
    assert answered == status, refused
    assert PAID not in json.dumps(refused)
    assert await running.state(caller.call_id) == before


async def test_not_json_and_the_wrong_media_type_change_no_call(running: Running) -> None:
    caller = JsonCaller(running)
    await caller.to_agent()
    before = await running.state(caller.call_id)
    headers = {"Authorization": f"Bearer {AGENT_KEY}"}
    url = f"{running.url}/calls/{caller.call_id}/secure-session"
    sent = [
        ({**headers, "Content-Type": "application/json"}, b"{not json", 400),
        ({**headers, "Content-Type": "text/plain"}, b'{"amount": 1, "currency": "GBP"}', 415),
    ]
    for headers_sent, raw, status in sent:
        async with running.http.post(url, data=raw, headers=headers_sent) as response:
            assert response.status == status
    assert await running.state(caller.call_id) == before


async def test_another_agent_route_can_be_named(running: Running) -> None:
    caller = JsonCaller(running)
    await caller.to_agent()
    status, started = await running.agent(
        "POST", caller.call_id, {"amount": "10", "currency": "GBP", "route": "agent"}
    )
    assert (status, started["route"]) == (201, "agent")


def test_the_openapi_document_describes_the_secure_session_api() -> None:
    paths = document()["paths"]
    operations = paths["/calls/{call_id}/secure-session"]
    assert set(operations) == {"post", "get"}
    assert {"201", "401", "404", "409", "422"} <= set(operations["post"]["responses"])
    committed = json.loads((ROOT / "docs" / "step-up-openapi.json").read_text())
    assert committed == json.loads(json.dumps(document()))
